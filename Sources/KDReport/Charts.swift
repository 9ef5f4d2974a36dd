import Foundation

/// Vertical grouped bars: one group per category, one bar per series.
public struct BarChart {
  public var title: String
  public var categories: [String]
  public var series: [ChartSeries]
  public var yLabel: String?
  /// Fixed upper end of the value axis (e.g. 1 for accuracy); nil: from the data.
  public var yMax: Double?
  public var valueFormat: (Double) -> String = { Format.compact($0) }
  /// With a single series: one colour per category (no legend; the axis names the bars).
  public var categoryColors: [String]?
  public var width = 520.0
  public var plotHeight = 220.0

  public init(title: String, categories: [String], series: [ChartSeries], yLabel: String? = nil, yMax: Double? = nil) {
    self.title = title
    self.categories = categories
    self.series = series
    self.yLabel = yLabel
    self.yMax = yMax
  }

  public func render() -> String {
    let font = 12.0
    let left = 64.0, right = 16.0
    let plotWidth = width - left - right
    let band = plotWidth / Double(max(1, categories.count))
    let longest = categories.map { textWidth($0, fontSize: font) }.max() ?? 0
    let rotate = longest > band - 6
    let labelRoom = rotate ? min(130, longest * 0.75 + 12) : 24
    var canvas = SVGCanvas(width: width, height: 0)
    let legendHeight = series.count > 1
      ? drawLegend(series.map { ($0.name, $0.color, false) }, on: &canvas, x: left, y: 8, maxWidth: plotWidth) : 0
    let top = 18 + legendHeight
    canvas.height = top + plotHeight + labelRoom + 8
    let values = series.flatMap { $0.values.compactMap { $0 } }
    let hi = yMax ?? niceMax(values.max() ?? 1)
    let scale = LinearScale(domain: (0, hi), range: (top + plotHeight, top))
    let ticks = niceTicks(0, hi, count: 5)
    drawValueAxis(on: &canvas, scale: scale, ticks: ticks, left: left, right: width - right,
                  format: tickFormat(ticks), label: yLabel)
    let groupWidth = band * (series.count == 1 ? 0.6 : 0.8)
    let barWidth = groupWidth / Double(max(1, series.count))
    for (c, category) in categories.enumerated() {
      let x0 = left + band * Double(c) + (band - groupWidth) / 2
      for (s, serie) in series.enumerated() {
        guard c < serie.values.count, let v = serie.values[c], v.isFinite else { continue }
        let x = x0 + barWidth * Double(s)
        let y = scale(min(v, hi))
        let color = series.count == 1 ? (categoryColors.flatMap { c < $0.count ? $0[c] : nil } ?? serie.color) : serie.color
        canvas.rect(x: x + 1, y: y, width: barWidth - 2, height: top + plotHeight - y, fill: color,
                    title: "\(serie.name) · \(category): \(valueFormat(v))")
        if barWidth >= 30 || (barWidth >= 20 && valueFormat(v).count <= 4) {
          canvas.text(valueFormat(v), x: x + barWidth / 2, y: y - 4, anchor: "middle", cls: "value")
        }
      }
      let cx = left + band * (Double(c) + 0.5)
      let base = top + plotHeight
      if rotate {
        let label = truncate(category, toWidth: 160, fontSize: font)
        canvas.text(label, x: cx, y: base + 14, anchor: "end", cls: "tick", rotate: -35, title: category)
      } else {
        canvas.text(category, x: cx, y: base + 17, anchor: "middle", cls: "tick")
      }
    }
    return canvas.rendered(label: title)
  }
}

/// Horizontal bars, one row per category: grouped (one bar per series) or stacked.
public struct HorizontalBarChart {
  public var title: String
  public var categories: [String]
  public var series: [ChartSeries]
  public var stacked = false
  public var xLabel: String?
  public var xMax: Double?
  public var valueFormat: (Double) -> String = { Format.compact($0) }
  public var width = 860.0

  public init(title: String, categories: [String], series: [ChartSeries], stacked: Bool = false, xLabel: String? = nil,
              xMax: Double? = nil) {
    self.title = title
    self.categories = categories
    self.series = series
    self.stacked = stacked
    self.xLabel = xLabel
    self.xMax = xMax
  }

  public func render() -> String {
    let font = 12.0
    let labelWidth = min(190, max(60, (categories.map { textWidth($0, fontSize: font) }.max() ?? 40) + 12))
    let left = labelWidth + 8, right = 56.0
    let plotWidth = width - left - right
    let barHeight = stacked ? 16.0 : (series.count > 2 ? 9.0 : 12.0)
    let rowHeight = stacked || series.count == 1 ? barHeight + 8 : barHeight * Double(series.count) + 10
    var canvas = SVGCanvas(width: width, height: 0)
    let legendHeight = series.count > 1
      ? drawLegend(series.map { ($0.name, $0.color, false) }, on: &canvas, x: left, y: 8, maxWidth: plotWidth) : 0
    let top = 12 + legendHeight + 16
    let plotHeight = rowHeight * Double(categories.count)
    canvas.height = top + plotHeight + (xLabel == nil ? 12 : 34)
    let totals: [Double] = categories.indices.map { c in
      let vs = series.compactMap { c < $0.values.count ? $0.values[c] : nil }.filter(\.isFinite)
      return stacked ? vs.reduce(0, +) : (vs.max() ?? 0)
    }
    let hi = xMax ?? niceMax(totals.max() ?? 1, count: 8)
    let scale = LinearScale(domain: (0, hi), range: (left, left + plotWidth))
    let ticks = niceTicks(0, hi, count: 5)
    let format = tickFormat(ticks)
    for t in ticks {
      let x = scale(t)
      canvas.line(x1: x, y1: top - 4, x2: x, y2: top + plotHeight, cls: t == 0 ? "axis" : "grid")
      canvas.text(format(t), x: x, y: top - 8, anchor: "middle", cls: "tick")
    }
    if let xLabel {
      canvas.text(xLabel, x: left + plotWidth / 2, y: top + plotHeight + 24, anchor: "middle", cls: "axis-label")
    }
    for (c, category) in categories.enumerated() {
      let y0 = top + rowHeight * Double(c) + 4
      let label = truncate(category, toWidth: labelWidth - 4, fontSize: font)
      canvas.text(label, x: left - 8, y: y0 + (rowHeight - 8) / 2 + 4, anchor: "end", cls: "tick",
                  title: label == category ? nil : category)
      var x = left
      for (s, serie) in series.enumerated() {
        guard c < serie.values.count, let v = serie.values[c], v.isFinite else { continue }
        let w = scale(min(v, hi)) - left
        if stacked {
          canvas.rect(x: x, y: y0, width: w, height: barHeight, fill: serie.color,
                      title: "\(category) · \(serie.name): \(valueFormat(v))")
          x += w
        } else {
          let y = y0 + barHeight * Double(s)
          canvas.rect(x: left, y: y, width: w, height: barHeight - 1, fill: serie.color,
                      title: "\(category) · \(serie.name): \(valueFormat(v))")
          canvas.text(valueFormat(v), x: left + w + 4, y: y + barHeight - 2.5, cls: "value-small")
        }
      }
      if stacked {
        canvas.text(valueFormat(totals[c]), x: x + 4, y: y0 + barHeight - 3.5, cls: "value-small")
      }
    }
    return canvas.rendered(label: title)
  }
}

/// One bin of a histogram: `[lower, upper)`, or `≥ lower` when `upper` is nil (overflow).
public struct HistogramBin: Equatable {
  public var lower: Double
  public var upper: Double?
  public var count: Int
}

/// A histogram of example lengths (or any non-negative values).
public struct Histogram {
  public var title: String
  public var bins: [HistogramBin]
  public var xLabel: String
  public var yLabel = "examples"
  public var color = "#4C78A8"
  public var width = 520.0
  public var plotHeight = 200.0

  public init(title: String, bins: [HistogramBin], xLabel: String) {
    self.title = title
    self.bins = bins
    self.xLabel = xLabel
  }

  /// Bins of equal width from zero up to about the 99th percentile, plus one overflow bin.
  public static func bins(for values: [Int], target: Int = 30) -> [HistogramBin] {
    var counts: [Int: Int] = [:]
    for v in values { counts[v, default: 0] += 1 }
    return bins(counts: counts, target: target)
  }

  /// The same from value → number of occurrences.
  public static func bins(counts: [Int: Int], target: Int = 30) -> [HistogramBin] {
    let weighted = WeightedValues(counts)
    guard weighted.total > 0 else { return [] }
    let cap = max(1, weighted.percentile(0.99))
    let maxValue = weighted.max
    let rawWidth = Double(cap) / Double(target)
    let candidates = niceTicks(0, rawWidth * 5, count: 5)
    let step = max(1, candidates.count > 1 ? candidates[1] - candidates[0] : 1)
    let width = max(1, Int((rawWidth / step).rounded(.up) * step))
    let regular = (cap + width - 1) / width + (cap % width == 0 ? 1 : 0)
    let overflow = maxValue >= regular * width
    var binCounts = [Int](repeating: 0, count: regular + (overflow ? 1 : 0))
    for (v, c) in weighted.pairs { binCounts[min(binCounts.count - 1, max(0, v) / width)] += c }
    return binCounts.enumerated().map { i, c in
      HistogramBin(lower: Double(i * width), upper: overflow && i == regular ? nil : Double((i + 1) * width), count: c)
    }
  }

  public func render() -> String {
    let left = 64.0, right = 16.0, top = 16.0
    let plotWidth = width - left - right
    var canvas = SVGCanvas(width: width, height: top + plotHeight + 52)
    let hi = niceMax(Double(bins.map(\.count).max() ?? 1))
    let y = LinearScale(domain: (0, hi), range: (top + plotHeight, top))
    drawValueAxis(on: &canvas, scale: y, ticks: niceTicks(0, hi, count: 5), left: left, right: width - right,
                  format: { Format.compact($0) }, label: yLabel)
    let barWidth = plotWidth / Double(max(1, bins.count))
    let labelEvery = max(1, Int((40 / barWidth).rounded(.up)))
    let overflowX = bins.last?.upper == nil ? left + barWidth * (Double(bins.count) - 0.5) : nil
    for (i, bin) in bins.enumerated() {
      let x = left + barWidth * Double(i)
      let top = y(Double(bin.count))
      let range = bin.upper.map { "\(Format.compact(bin.lower))–\(Format.compact($0 - 1))" } ?? "≥ \(Format.compact(bin.lower))"
      canvas.rect(x: x + 0.5, y: top, width: barWidth - 1, height: y(0) - top, fill: bin.upper == nil ? "#9DB6D4" : color,
                  title: "\(range) \(xLabel): \(Format.int(bin.count)) \(yLabel)")
      if bin.upper == nil {
        canvas.text("≥\(Format.compact(bin.lower))", x: x + barWidth / 2, y: y(0) + 16, anchor: "middle", cls: "tick")
      } else if i % labelEvery == 0, overflowX.map({ abs($0 - x) > 34 }) ?? true {
        canvas.line(x1: x, y1: y(0), x2: x, y2: y(0) + 4, cls: "axis")
        canvas.text(Format.compact(bin.lower), x: x, y: y(0) + 16, anchor: "middle", cls: "tick")
      }
    }
    canvas.text(xLabel, x: left + plotWidth / 2, y: top + plotHeight + 42, anchor: "middle", cls: "axis-label")
    return canvas.rendered(label: title)
  }
}

/// Integer values with multiplicities, sorted, for percentiles without expanding them.
public struct WeightedValues {
  /// (value, count) in ascending value order.
  public let pairs: [(Int, Int)]
  public let total: Int

  public init(_ counts: [Int: Int]) {
    pairs = counts.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    total = pairs.reduce(0) { $0 + $1.1 }
  }

  public var max: Int { pairs.last?.0 ?? 0 }
  public var mean: Double { total > 0 ? Double(pairs.reduce(0) { $0 + $1.0 * $1.1 }) / Double(total) : 0 }

  /// The value at rank `round((total - 1) * p)` (0-based) in sorted order.
  public func percentile(_ p: Double) -> Int {
    guard total > 0 else { return 0 }
    let rank = Int((Double(total - 1) * p).rounded())
    var seen = 0
    for (v, c) in pairs {
      seen += c
      if seen > rank { return v }
    }
    return max
  }
}

/// A line chart over epochs (or any numeric x), one line with markers per series.
public struct LineChart {
  public struct Line {
    public var name: String
    public var color: String
    public var points: [(x: Double, y: Double)]
    public var dashed = false
    public init(name: String, color: String, points: [(x: Double, y: Double)], dashed: Bool = false) {
      self.name = name
      self.color = color
      self.points = points
      self.dashed = dashed
    }
  }

  public var title: String
  public var lines: [Line]
  public var xLabel: String
  public var yLabel: String
  /// Fixed value range (e.g. 0...1); nil: from the data, padded.
  public var yRange: ClosedRange<Double>?
  /// Marks one x (the best epoch) with a vertical rule.
  public var marker: (x: Double, label: String)?
  public var valueFormat: (Double) -> String = { Format.decimal($0, digits: 2) }
  public var width = 520.0
  public var plotHeight = 220.0

  public init(title: String, lines: [Line], xLabel: String, yLabel: String, yRange: ClosedRange<Double>? = nil) {
    self.title = title
    self.lines = lines
    self.xLabel = xLabel
    self.yLabel = yLabel
    self.yRange = yRange
  }

  public func render() -> String {
    let left = 64.0, right = 20.0
    let plotWidth = width - left - right
    var canvas = SVGCanvas(width: width, height: 0)
    let legendHeight = drawLegend(lines.map { ($0.name, $0.color, $0.dashed) }, on: &canvas, x: left, y: 8,
                                  maxWidth: plotWidth, lines: true)
    let top = 16 + legendHeight
    canvas.height = top + plotHeight + 46
    let xs = lines.flatMap { $0.points.map(\.x) }.filter(\.isFinite)
    let ys = lines.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
    let xLo = xs.min() ?? 0, xHi = max(xs.max() ?? 1, (xs.min() ?? 0) + 1)
    var yLo: Double, yHi: Double
    if let yRange {
      yLo = yRange.lowerBound
      yHi = yRange.upperBound
    } else {
      yLo = ys.min() ?? 0
      yHi = ys.max() ?? 1
      let pad = max((yHi - yLo) * 0.08, abs(yHi) * 0.02, 1e-3)
      yLo = yLo >= 0 && yLo - pad < 0 ? 0 : yLo - pad
      yHi += pad
      let t = niceTicks(yLo, yHi, count: 5)
      if let f = t.first, let l = t.last, t.count > 1 {
        let step = t[1] - t[0]
        yLo = f > yLo ? f - step : f
        yHi = l < yHi ? l + step : l
      }
    }
    let x = LinearScale(domain: (xLo, xHi), range: (left + 8, left + plotWidth - 8))
    let y = LinearScale(domain: (yLo, yHi), range: (top + plotHeight, top))
    let yTicks = niceTicks(yLo, yHi, count: 5)
    drawValueAxis(on: &canvas, scale: y, ticks: yTicks, left: left, right: width - right,
                  format: tickFormat(yTicks), label: yLabel)
    canvas.line(x1: left, y1: top + plotHeight, x2: width - right, y2: top + plotHeight, cls: "axis")
    var xTicks = niceTicks(xLo, xHi, count: min(10, max(1, Int(xHi - xLo))))
    xTicks = xTicks.filter { $0 == $0.rounded() }
    for t in xTicks {
      canvas.line(x1: x(t), y1: top + plotHeight, x2: x(t), y2: top + plotHeight + 4, cls: "axis")
      canvas.text(Format.compact(t), x: x(t), y: top + plotHeight + 17, anchor: "middle", cls: "tick")
    }
    canvas.text(xLabel, x: left + plotWidth / 2, y: top + plotHeight + 38, anchor: "middle", cls: "axis-label")
    if let marker, marker.x.isFinite {
      canvas.line(x1: x(marker.x), y1: top, x2: x(marker.x), y2: top + plotHeight, cls: "marker")
      canvas.text(marker.label, x: x(marker.x) + 4, y: top + 11, cls: "marker-label")
    }
    for line in lines {
      let pts = line.points.filter { $0.x.isFinite && $0.y.isFinite }.sorted { $0.x < $1.x }
      guard !pts.isEmpty else { continue }
      let d = pts.enumerated().map { i, p in "\(i == 0 ? "M" : "L")\(n(x(p.x))) \(n(y(min(max(p.y, yLo), yHi))))" }
        .joined(separator: " ")
      canvas.add("<path class=\"series\" d=\"\(d)\" stroke=\"\(line.color)\"\(line.dashed ? " stroke-dasharray=\"5 4\"" : "")/>")
      for p in pts {
        canvas.add("<circle cx=\"\(n(x(p.x)))\" cy=\"\(n(y(min(max(p.y, yLo), yHi))))\" r=\"3\" fill=\"\(line.color)\"><title>\(HTML.escape("\(line.name), \(xLabel) \(Format.compact(p.x)): \(valueFormat(p.y))"))</title></circle>")
      }
    }
    return canvas.rendered(label: title)
  }
}

/// A confusion matrix as a heatmap: rows are gold labels, columns predictions;
/// colour is the share of the row, the number is the count.
public struct ConfusionHeatmap {
  public var title: String
  public var labels: [String]
  /// `counts[gold][predicted]`.
  public var counts: [[Int]]
  public var width = 520.0

  public init(title: String, labels: [String], counts: [[Int]]) {
    self.title = title
    self.labels = labels
    self.counts = counts
  }

  /// A blue sequential colour for a share in [0, 1] (white to dark blue).
  static func color(_ share: Double) -> String {
    let t = max(0, min(1, share))
    let from = (247.0, 251.0, 255.0), to = (8.0, 48.0, 107.0)
    let r = Int(from.0 + (to.0 - from.0) * t), g = Int(from.1 + (to.1 - from.1) * t), b = Int(from.2 + (to.2 - from.2) * t)
    return String(format: "#%02X%02X%02X", r, g, b)
  }

  public func render() -> String {
    let k = labels.count
    let showNames = k <= 40
    let labelFont = k > 20 ? 10.0 : 12.0
    let fontClass = labelFont < 12 ? "tick-small" : "tick"
    let longest = showNames ? min(150, (labels.map { textWidth($0, fontSize: labelFont) }.max() ?? 20) + 10) : 30
    let left = 30 + longest
    let top = 10.0
    let cell = max(4, min(64, (width - left - 16) / Double(max(1, k))))
    let size = cell * Double(k)
    let columnRoom = longest * 0.75 + 12
    let titleY = top + size + columnRoom + 12
    let scaleY = titleY + 14
    var canvas = SVGCanvas(width: max(width, left + size + 16), height: scaleY + 34)
    canvas.text("gold label", x: 12, y: top + size / 2, anchor: "middle", cls: "axis-label", rotate: -90)
    canvas.text("predicted label", x: left + size / 2, y: titleY, anchor: "middle", cls: "axis-label")
    let every = showNames ? 1 : max(1, Int((12 / cell).rounded(.up)))
    for (i, name) in labels.enumerated() where i % every == 0 {
      let shown = showNames ? truncate(name, toWidth: longest - 8, fontSize: labelFont) : String(i)
      let tip = shown == name ? nil : name
      canvas.text(shown, x: left - 6, y: top + cell * (Double(i) + 0.5) + labelFont * 0.35, anchor: "end",
                  cls: fontClass, title: tip)
      let cx = left + cell * (Double(i) + 0.5)
      canvas.text(shown, x: cx + labelFont * 0.3, y: top + size + 10, anchor: "end", cls: fontClass, rotate: -45, title: tip)
    }
    for g in 0..<k {
      let rowTotal = g < counts.count ? counts[g].reduce(0, +) : 0
      for p in 0..<k {
        let c = g < counts.count && p < counts[g].count ? counts[g][p] : 0
        let share = rowTotal > 0 ? Double(c) / Double(rowTotal) : 0
        let x = left + cell * Double(p), y = top + cell * Double(g)
        let gap = cell > 8 ? 1.0 : 0
        canvas.rect(x: x, y: y, width: cell - gap, height: cell - gap, fill: Self.color(share),
                    title: "gold \(labels[g]) → predicted \(labels[p]): \(Format.int(c)) (\(Format.percent(share)) of the row)")
        if cell >= 22 && c > 0 {
          let small = cell >= 34 ? "" : " cell-small"
          canvas.text(Format.compact(Double(c)), x: x + cell / 2, y: y + cell / 2 + 4, anchor: "middle",
                      cls: (share > 0.5 ? "cell-dark" : "cell-light") + small)
        }
      }
    }
    canvas.add("<rect class=\"frame\" x=\"\(n(left))\" y=\"\(n(top))\" width=\"\(n(size))\" height=\"\(n(size))\"/>")
    // Colour scale.
    let scaleWidth = 180.0
    for i in 0..<20 {
      canvas.rect(x: left + scaleWidth * Double(i) / 20, y: scaleY, width: scaleWidth / 20 + 0.5, height: 10,
                  fill: Self.color(Double(i) / 19))
    }
    canvas.text("0%", x: left, y: scaleY + 24, cls: "tick-small")
    canvas.text("100%", x: left + scaleWidth, y: scaleY + 24, anchor: "end", cls: "tick-small")
    canvas.text("share of the gold row", x: left + scaleWidth + 10, y: scaleY + 9, cls: "tick-small")
    return canvas.rendered(label: title)
  }
}

/// A reliability diagram: accuracy per confidence bin against the diagonal of perfect calibration,
/// with the number of examples per bin underneath.
public struct ReliabilityDiagram {
  public var title: String
  public var bins: [CalibrationBin]
  public var ece: Double?
  public var color = "#2F6DB5"
  public var width = 420.0

  public init(title: String, bins: [CalibrationBin], ece: Double?) {
    self.title = title
    self.bins = bins
    self.ece = ece
  }

  public func render() -> String {
    let left = 56.0, right = 16.0
    let plot = width - left - right
    var canvas = SVGCanvas(width: width, height: 0)
    let legend = drawLegend([("accuracy", color, false), ("overconfidence gap", "#F4B6B6", false)], on: &canvas,
                            x: left, y: 8, maxWidth: plot)
      + drawLegend([("mean confidence", "#C0392B", false), ("perfect calibration", "#666666", true)], on: &canvas,
                   x: left, y: 26, maxWidth: plot, lines: true)
    let top = 16 + legend
    let countHeight = 46.0
    canvas.height = top + plot + 24 + countHeight + 30
    let x = LinearScale(domain: (0, 1), range: (left, left + plot))
    let y = LinearScale(domain: (0, 1), range: (top + plot, top))
    let ticks = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    drawValueAxis(on: &canvas, scale: y, ticks: ticks, left: left, right: left + plot,
                  format: { Format.decimal($0, digits: 1) }, label: "accuracy")
    for t in ticks {
      canvas.line(x1: x(t), y1: top, x2: x(t), y2: top + plot, cls: t == 0 ? "axis" : "grid")
    }
    for bin in bins where bin.count > 0 {
      let x0 = x(bin.lower), x1 = x(bin.upper)
      let acc = bin.accuracy, conf = bin.meanConfidence
      canvas.rect(x: x0 + 1, y: y(acc), width: x1 - x0 - 2, height: y(0) - y(acc), fill: color,
                  title: "confidence \(Format.decimal(bin.lower))–\(Format.decimal(bin.upper)): accuracy \(Format.metric(acc)), mean confidence \(Format.metric(conf)), \(Format.int(bin.count)) examples")
      if conf > acc {
        canvas.rect(x: x0 + 1, y: y(conf), width: x1 - x0 - 2, height: y(acc) - y(conf), fill: "#F4B6B6",
                    title: "overconfident by \(Format.metric(conf - acc))")
      }
      canvas.line(x1: x0 + 1, y1: y(conf), x2: x1 - 1, y2: y(conf), cls: "confidence")
    }
    canvas.line(x1: x(0), y1: y(0), x2: x(1), y2: y(1), cls: "diagonal")
    if let ece {
      canvas.text("ECE \(Format.metric(ece))", x: left + 8, y: top + 16, cls: "annotation")
    }
    // Examples per bin.
    let base = top + plot + 24 + countHeight
    let maxCount = Double(bins.map(\.count).max() ?? 1)
    for bin in bins where bin.count > 0 {
      let h = countHeight * Double(bin.count) / max(1, maxCount)
      canvas.rect(x: x(bin.lower) + 1, y: base - h, width: x(bin.upper) - x(bin.lower) - 2, height: h, fill: "#9DB6D4",
                  title: "\(Format.int(bin.count)) examples with confidence \(Format.decimal(bin.lower))–\(Format.decimal(bin.upper))")
    }
    canvas.line(x1: left, y1: base, x2: left + plot, y2: base, cls: "axis")
    canvas.text("examples", x: left - 6, y: base - countHeight / 2 + 4, anchor: "end", cls: "tick-small")
    for t in ticks {
      canvas.text(Format.decimal(t, digits: 1), x: x(t), y: base + 14, anchor: "middle", cls: "tick")
    }
    canvas.text("confidence (top-class probability)", x: left + plot / 2, y: base + 28, anchor: "middle", cls: "axis-label")
    return canvas.rendered(label: title)
  }
}
