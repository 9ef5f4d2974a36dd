import Foundation

/// A progress bar on stderr, drawn only when stderr is a terminal. When it
/// is not (cron, pipes, CI) the bar draws nothing: the stage's `Heartbeat`
/// prints its state as a plain line every `Heartbeat.interval` seconds.
public final class ProgressBar: @unchecked Sendable {
  public let label: String
  public var total: Int64 {
    get { lock.withLock { _total } }
    set { lock.withLock { _total = newValue } }
  }
  public let unit: String
  private let lock = NSLock()
  private var _total: Int64
  private var done: Int64 = 0
  private var note = ""
  private let start = Date()
  private var lastDraw = Date.distantPast
  public let enabled: Bool

  public init(label: String, total: Int64, unit: String = "", enabled: Bool? = nil) {
    self.label = label
    self._total = total
    self.unit = unit
    self.enabled = enabled ?? (isatty(STDERR_FILENO) == 1 && !Log.quiet)
    Heartbeat.current?.show(self)
  }

  /// Advances by `n` units and redraws at most ten times a second.
  public func advance(_ n: Int64 = 1, note: String = "") {
    lock.withLock {
      done += n
      if !note.isEmpty { self.note = note }
    }
    guard enabled else { return }
    let now = Date()
    if now.timeIntervalSince(lastDraw) < 0.1 && done < total { return }
    lastDraw = now
    draw(note: note)
  }

  private func draw(note: String) {
    let (done, total) = lock.withLock { (self.done, _total) }
    let elapsed = max(Date().timeIntervalSince(start), 1e-6)
    let rate = Double(done) / elapsed
    let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
    let width = 24
    let filled = Int(frac * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    let eta = rate > 0 && total > done ? Double(total - done) / rate : 0
    let line = String(format: "\r%@ [%@] %3.0f%% %@ ETA %@ %@", label, bar, frac * 100, rateText(rate), Self.clock(eta), note)
    FileHandle.standardError.write(Data(line.prefix(160).utf8))
  }

  private func rateText(_ rate: Double) -> String {
    // Slow stages (a fine-tuning step takes seconds) would otherwise print "0 steps/s".
    unit == "B" ? String(format: "%.1f MB/s", rate / 1e6) : String(format: rate < 10 ? "%.2f %@/s" : "%.0f %@/s", rate, unit)
  }

  private func amount(_ value: Int64) -> String {
    unit == "B" ? String(format: "%.1f MB", Double(value) / 1e6) : "\(value)\(unit.isEmpty ? "" : " " + unit)"
  }

  /// One plain line of state, for logs: "teacher 120/480 ex (25%), 41 ex/s, ETA 0:09, file.csv".
  public var statusLine: String {
    let (done, total, note) = lock.withLock { (self.done, _total, self.note) }
    let elapsed = max(Date().timeIntervalSince(start), 1e-6)
    let rate = Double(done) / elapsed
    var line = "\(label) \(amount(done))"
    if total > 0 {
      line = "\(label) \(amount(done).split(separator: " ")[0])/\(amount(total))"
        + String(format: " (%.0f%%)", min(100, 100 * Double(done) / Double(total)))
    }
    line += ", " + rateText(rate)
    if total > done && rate > 0 { line += ", ETA " + Self.clock(Double(total - done) / rate) }
    if !note.isEmpty { line += ", " + note }
    return line
  }

  /// Sets the absolute amount done.
  public func update(_ value: Int64, note: String = "") {
    advance(value - lock.withLock { done }, note: note)
  }

  /// Clears the bar line.
  public func finish() {
    Heartbeat.current?.hide(self)
    guard enabled else { return }
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
  }

  static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
  }
}

/// Keeps a long stage audible when stderr is not a terminal: a timer prints
/// a plain progress line whenever nothing was written to stderr for
/// `interval` seconds (30 by default; `KD_PROGRESS_INTERVAL=<seconds>`
/// changes it, e.g. in tests), so a cron log shows the stage alive at
/// least every interval: "kd-teacher-cache: 3:30 elapsed; teacher 120/480 ex
/// (25%), 41 ex/s, ETA 0:09", or the last log line when no bar is active.
/// `runStage` starts one for every stage; on a terminal it prints nothing
/// (the bars do the job there).
public final class Heartbeat: @unchecked Sendable {
  /// The heartbeat of the running stage, if any.
  nonisolated(unsafe) public private(set) static var current: Heartbeat?

  /// Seconds between lines: `KD_PROGRESS_INTERVAL`, else 30.
  public static var interval: Double {
    if let raw = ProcessInfo.processInfo.environment["KD_PROGRESS_INTERVAL"], let v = Double(raw), v > 0 { return v }
    return 30
  }

  private let tool: String
  private let interval: Double
  private let start = Date()
  private let lock = NSLock()
  private var bars: [ObjectIdentifier: ProgressBar] = [:]
  private var order: [ObjectIdentifier] = []
  private var timer: DispatchSourceTimer?

  init(tool: String, interval: Double) {
    self.tool = tool
    self.interval = interval
  }

  /// Starts the stage's heartbeat (a no-op object on a terminal or with --quiet).
  @discardableResult
  public static func start(tool: String, interval: Double = Heartbeat.interval,
                           terminal: Bool = isatty(STDERR_FILENO) == 1) -> Heartbeat {
    let beat = Heartbeat(tool: tool, interval: interval)
    current = beat
    guard !terminal, !Log.quiet else { return beat }
    let timer = DispatchSource.makeTimerSource(queue: DispatchQueue.global(qos: .utility))
    let tick = min(1.0, interval / 4)
    timer.schedule(deadline: .now() + tick, repeating: tick, leeway: .milliseconds(Int(tick * 100)))
    timer.setEventHandler { [weak beat] in beat?.tick() }
    beat.timer = timer
    timer.resume()
    return beat
  }

  /// Stops the timer.
  public func stop() {
    timer?.cancel()
    timer = nil
    if Heartbeat.current === self { Heartbeat.current = nil }
  }

  func show(_ bar: ProgressBar) {
    lock.withLock {
      let id = ObjectIdentifier(bar)
      if bars[id] == nil { order.append(id) }
      bars[id] = bar
    }
  }

  func hide(_ bar: ProgressBar) {
    lock.withLock {
      let id = ObjectIdentifier(bar)
      bars[id] = nil
      order.removeAll { $0 == id }
    }
  }

  private func tick() {
    guard Date().timeIntervalSince(Log.lastLineAt) >= interval else { return }
    Log.progress(line())
  }

  /// The line printed now.
  func line() -> String {
    var text = "\(tool): \(ProgressBar.clock(Date().timeIntervalSince(start))) elapsed"
    let bar = lock.withLock { order.last.flatMap { bars[$0] } }
    if let bar {
      text += "; " + bar.statusLine
    } else if let last = Log.lastMessage {
      text += "; still working after: " + String(last.prefix(200))
    } else {
      text += "; still working"
    }
    return text
  }
}
