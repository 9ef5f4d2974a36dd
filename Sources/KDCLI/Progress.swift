import Foundation

/// A progress bar on stderr, drawn only when stderr is a terminal; silent
/// otherwise (cron, pipes, CI), where stages print plain log lines instead.
public final class ProgressBar {
  public let label: String
  public var total: Int64
  public let unit: String
  private var done: Int64 = 0
  private let start = Date()
  private var lastDraw = Date.distantPast
  public let enabled: Bool

  public init(label: String, total: Int64, unit: String = "", enabled: Bool? = nil) {
    self.label = label
    self.total = total
    self.unit = unit
    self.enabled = enabled ?? (isatty(STDERR_FILENO) == 1 && !Log.quiet)
  }

  /// Advances by `n` units and redraws at most ten times a second.
  public func advance(_ n: Int64 = 1, note: String = "") {
    done += n
    guard enabled else { return }
    let now = Date()
    if now.timeIntervalSince(lastDraw) < 0.1 && done < total { return }
    lastDraw = now
    draw(note: note)
  }

  private func draw(note: String) {
    let elapsed = max(Date().timeIntervalSince(start), 1e-6)
    let rate = Double(done) / elapsed
    let frac = total > 0 ? min(1, Double(done) / Double(total)) : 0
    let width = 24
    let filled = Int(frac * Double(width))
    let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
    let eta = rate > 0 && total > done ? Double(total - done) / rate : 0
    let rateText = unit == "B" ? String(format: "%.1f MB/s", rate / 1e6) : String(format: "%.0f %@/s", rate, unit)
    let line = String(format: "\r%@ [%@] %3.0f%% %@ ETA %@ %@", label, bar, frac * 100, rateText, Self.clock(eta), note)
    FileHandle.standardError.write(Data(line.prefix(160).utf8))
  }

  /// Sets the absolute amount done.
  public func update(_ value: Int64, note: String = "") {
    advance(value - done, note: note)
  }

  /// Clears the bar line.
  public func finish() {
    guard enabled else { return }
    FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
  }

  static func clock(_ seconds: Double) -> String {
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
  }
}
