import Foundation

/// Building blocks of the hand-written SVG charts: a canvas, scales, ticks, legends.
///
/// Charts are plain SVG 1.1 elements inlined in the page (no script, no
/// external resources). Coordinates are rounded to one decimal to keep the
/// file small. Every text is escaped with `HTML.escape`.
struct SVGCanvas {
  var width: Double
  var height: Double
  private(set) var body = ""

  init(width: Double, height: Double) {
    self.width = width
    self.height = height
  }

  mutating func add(_ element: String) { body += element + "\n" }

  mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, title: String? = nil,
                     extra: String = "") {
    let tip = title.map { "<title>\(HTML.escape($0))</title>" } ?? ""
    let attrs = "x=\"\(n(x))\" y=\"\(n(y))\" width=\"\(n(max(0, width)))\" height=\"\(n(max(0, height)))\" fill=\"\(fill)\"\(extra.isEmpty ? "" : " " + extra)"
    add(tip.isEmpty ? "<rect \(attrs)/>" : "<rect \(attrs)>\(tip)</rect>")
  }

  mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, cls: String, extra: String = "") {
    add("<line class=\"\(cls)\" x1=\"\(n(x1))\" y1=\"\(n(y1))\" x2=\"\(n(x2))\" y2=\"\(n(y2))\"\(extra.isEmpty ? "" : " " + extra)/>")
  }

  /// A text element; `anchor` is start, middle or end; `rotate` in degrees around (x, y).
  mutating func text(_ content: String, x: Double, y: Double, anchor: String = "start", cls: String = "",
                     rotate: Double? = nil, title: String? = nil, baseline: String? = nil) {
    var attrs = "x=\"\(n(x))\" y=\"\(n(y))\""
    if anchor != "start" { attrs += " text-anchor=\"\(anchor)\"" }
    if !cls.isEmpty { attrs += " class=\"\(cls)\"" }
    if let rotate { attrs += " transform=\"rotate(\(n(rotate)) \(n(x)) \(n(y)))\"" }
    if let baseline { attrs += " dominant-baseline=\"\(baseline)\"" }
    let tip = title.map { "<title>\(HTML.escape($0))</title>" } ?? ""
    add("<text \(attrs)>\(tip)\(HTML.escape(content))</text>")
  }

  /// The finished `<svg>` element; `label` is its accessible name.
  func rendered(label: String, cls: String = "chart") -> String {
    """
    <svg class="\(cls)" viewBox="0 0 \(n(width)) \(n(height))" width="\(n(width))" height="\(n(height))" role="img" aria-label="\(HTML.escape(label))">
    <title>\(HTML.escape(label))</title>
    \(body)</svg>
    """
  }
}

/// A coordinate with at most one decimal, without a trailing `.0`.
func n(_ value: Double) -> String {
  guard value.isFinite else { return "0" }
  let r = (value * 10).rounded() / 10
  if r == r.rounded() { return String(Int(r)) }
  return String(format: "%.1f", r)
}

/// A linear map from a data interval onto a pixel interval.
struct LinearScale {
  var domain: (Double, Double)
  var range: (Double, Double)

  func callAsFunction(_ value: Double) -> Double {
    let span = domain.1 - domain.0
    guard span != 0 else { return range.0 }
    return range.0 + (value - domain.0) / span * (range.1 - range.0)
  }
}

/// Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
func niceTicks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
  guard lo.isFinite, hi.isFinite else { return [0, 1] }
  if hi <= lo { return [lo] }
  let raw = (hi - lo) / Double(max(1, count))
  let power = pow(10, floor(log10(raw)))
  let fraction = raw / power
  let step = (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power
  var ticks: [Double] = []
  var v = (lo / step).rounded(.down) * step
  while v <= hi + step * 1e-9 {
    if v >= lo - step * 1e-9 { ticks.append(abs(v) < step * 1e-9 ? 0 : v) }
    v += step
  }
  return ticks
}

/// Formats tick values with as many decimals as their spacing needs (`0.2` -> one decimal, `50` -> none).
func tickFormat(_ ticks: [Double]) -> (Double) -> String {
  let step = ticks.count > 1 ? abs(ticks[1] - ticks[0]) : 1
  let decimals = step >= 1 || step <= 0 ? 0 : min(6, Int((-log10(step)).rounded(.up)))
  if step >= 1 { return { Format.compact($0) } }
  return { String(format: "%.\(decimals)f", $0) }
}

/// The upper end of an axis that starts at zero and holds `maxValue`, rounded to a nice tick.
func niceMax(_ maxValue: Double, count: Int = 5) -> Double {
  guard maxValue > 0, maxValue.isFinite else { return 1 }
  let ticks = niceTicks(0, maxValue, count: count)
  let step = ticks.count > 1 ? ticks[1] - ticks[0] : maxValue
  let last = ticks.last ?? maxValue
  return last >= maxValue ? last : last + step
}

/// A rough width in pixels of `text` in the chart font (proportional sans-serif).
func textWidth(_ text: String, fontSize: Double) -> Double {
  var w = 0.0
  for ch in text {
    if "il.,:;|!'".contains(ch) { w += 0.3 } else if ch.isUppercase || "mwMW%@".contains(ch) { w += 0.8 } else { w += 0.56 }
  }
  return w * fontSize
}

/// `text` shortened with an ellipsis to fit `width` pixels.
func truncate(_ text: String, toWidth width: Double, fontSize: Double) -> String {
  if textWidth(text, fontSize: fontSize) <= width { return text }
  var out = ""
  for ch in text {
    if textWidth(out + String(ch) + "…", fontSize: fontSize) > width { break }
    out.append(ch)
  }
  return out + "…"
}

/// A named series of a chart with its colour.
public struct ChartSeries {
  public var name: String
  public var color: String
  public var values: [Double?]
  public var dashed = false

  public init(name: String, color: String, values: [Double?], dashed: Bool = false) {
    self.name = name
    self.color = color
    self.values = values
    self.dashed = dashed
  }
}

/// Draws a one-line (wrapping) legend at the top of a chart; returns the height it used.
@discardableResult
func drawLegend(_ items: [(name: String, color: String, dashed: Bool)], on canvas: inout SVGCanvas, x: Double, y: Double,
                maxWidth: Double, lines: Bool = false) -> Double {
  guard !items.isEmpty else { return 0 }
  let font = 12.0
  var cx = x
  var cy = y
  for item in items {
    let label = truncate(item.name, toWidth: 220, fontSize: font)
    let w = 22 + textWidth(label, fontSize: font) + 16
    if cx + w > x + maxWidth && cx > x {
      cx = x
      cy += 18
    }
    if item.dashed || lines {
      canvas.line(x1: cx, y1: cy + 6, x2: cx + 16, y2: cy + 6, cls: "legend-line",
                  extra: "stroke=\"\(item.color)\"" + (item.dashed ? " stroke-dasharray=\"4 3\"" : ""))
    } else {
      canvas.rect(x: cx, y: cy, width: 14, height: 12, fill: item.color, extra: "rx=\"2\"")
    }
    canvas.text(label, x: cx + 20, y: cy + 10.5, cls: "legend", title: label == item.name ? nil : item.name)
    cx += w
  }
  return cy - y + 22
}

/// Horizontal grid lines and tick labels of a vertical value axis.
func drawValueAxis(on canvas: inout SVGCanvas, scale: LinearScale, ticks: [Double], left: Double, right: Double,
                   format: (Double) -> String, label: String?) {
  for t in ticks {
    let y = scale(t)
    canvas.line(x1: left, y1: y, x2: right, y2: y, cls: t == 0 ? "axis" : "grid")
    canvas.text(format(t), x: left - 6, y: y + 4, anchor: "end", cls: "tick")
  }
  if let label {
    let mid = (scale.range.0 + scale.range.1) / 2
    canvas.text(label, x: 14, y: mid, anchor: "middle", cls: "axis-label", rotate: -90)
  }
}
