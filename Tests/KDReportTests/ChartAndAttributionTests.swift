import Foundation
import KDCore
import KDStore
import KDTestSupport
import Testing

@testable import KDReport

@Suite struct EscapingAndFormatTests {
  @Test func escapeCoversMarkupQuotesAndControlCharacters() {
    #expect(HTML.escape(#"<a href="x">'&'</a>"#) == "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;")
    #expect(HTML.escape("tab\tok\u{0}\u{1B}") == "tab\tok\u{FFFD}\u{FFFD}")
    #expect(HTML.escape("naïve — 日本") == "naïve — 日本")
  }

  @Test func slugsAreSafeFragmentIDs() {
    #expect(HTML.slug("Banking_Intents") == "banking-intents")
    #expect(HTML.slug("<script>") == "script")
    #expect(HTML.slug("日本") == "x")
  }

  @Test func numbersAreLocaleIndependent() {
    #expect(Format.int(1_234_567) == "1,234,567")
    #expect(Format.int(-1000) == "-1,000")
    #expect(Format.int(12) == "12")
    #expect(Format.metric(0.81249) == "0.812")
    #expect(Format.metric(.nan) == "—")
    #expect(Format.bytes(2048) == "2.0 KiB")
    #expect(Format.parameters(22_713_216) == "22.71M")
  }
}

@Suite struct ChartTests {
  @Test func niceTicksAreRoundAndCoverTheRange() {
    let unit = niceTicks(0, 1, count: 5)
    #expect(unit.count == 6)
    #expect(zip(unit, [0, 0.2, 0.4, 0.6, 0.8, 1.0]).allSatisfy { abs($0 - $1) < 1e-9 })
    #expect(niceTicks(0, 350, count: 5) == [0, 100, 200, 300])
    #expect(niceMax(350) == 400)
    #expect(niceMax(0) == 1)
  }

  @Test func histogramBinsKeepEveryValue() {
    var values = Array(0..<1000).map { $0 % 97 }
    values.append(5000)  // an outlier lands in the overflow bin
    let bins = Histogram.bins(for: values)
    #expect(bins.reduce(0) { $0 + $1.count } == values.count)
    #expect(bins.last?.upper == nil, "overflow bin")
    #expect(bins.last?.count ?? 0 >= 1)
    #expect(bins.dropLast().allSatisfy { $0.upper != nil })
    // Contiguous, equal-width bins starting at zero.
    #expect(bins.first?.lower == 0)
    for (a, b) in zip(bins, bins.dropFirst()) { #expect(a.upper == b.lower) }
    #expect(Histogram.bins(for: []).isEmpty)
    #expect(Histogram.bins(for: [0, 0, 0]).reduce(0) { $0 + $1.count } == 3)
  }

  @Test func weightedPercentilesMatchTheSortedList() {
    var rng = SystemRandomNumberGenerator()
    let values = (0..<501).map { _ in Int.random(in: 0..<40, using: &rng) }
    var counts: [Int: Int] = [:]
    for v in values { counts[v, default: 0] += 1 }
    let w = WeightedValues(counts)
    let sorted = values.sorted()
    for p in [0, 0.1, 0.5, 0.9, 0.99, 1] {
      #expect(w.percentile(p) == sorted[Int((Double(sorted.count - 1) * p).rounded())], "p=\(p) of \(values)")
    }
    #expect(w.total == 501)
    #expect(w.max == sorted.last)
    #expect(abs(w.mean - Double(values.reduce(0, +)) / 501) < 1e-9)
  }

  @Test func chartsEscapeTheirTextAndParse() throws {
    let evil = "<b>&\"'"
    let charts = [
      BarChart(title: evil, categories: [evil, "b"], series: [ChartSeries(name: evil, color: "#000", values: [1, nil])]).render(),
      HorizontalBarChart(title: evil, categories: [evil], series: [ChartSeries(name: "s", color: "#000", values: [3])],
                         stacked: true).render(),
      Histogram(title: evil, bins: Histogram.bins(for: [1, 2, 3]), xLabel: evil).render(),
      LineChart(title: evil, lines: [.init(name: evil, color: "#000", points: [(1, 0.5), (2, .nan), (3, 0.7)])],
                xLabel: "epoch", yLabel: evil).render(),
      ConfusionHeatmap(title: evil, labels: [evil, "x"], counts: [[1, 2], [0, 5]]).render(),
      ReliabilityDiagram(title: evil, bins: ClassificationEvaluation(classes: 2).bins, ece: nil).render(),
    ]
    for svg in charts {
      #expect(!svg.contains("<b>"))
      let doc = try parsePage(svg)
      #expect(doc.rootElement()?.name == "svg")
      #expect(!svg.contains("nan") && !svg.contains("inf"), "no non-finite coordinates")
    }
  }

  @Test func heatmapShadesByRowShare() throws {
    let svg = ConfusionHeatmap(title: "m", labels: ["a", "b"], counts: [[9, 1], [0, 0]]).render()
    #expect(svg.contains("fill=\"\(ConfusionHeatmap.color(0.9))\""))
    #expect(svg.contains("gold a → predicted b: 1 (10.0% of the row)"))
    #expect(svg.contains("gold b → predicted b: 0 (0.0% of the row)"), "an empty row does not divide by zero")
  }
}

@Suite struct EvaluationTests {
  @Test func metricsMatchTheTrainerDefinitions() {
    var e = ClassificationEvaluation(classes: 3)
    e.add(gold: 0, predicted: 0, confidence: 0.95)
    e.add(gold: 0, predicted: 1, confidence: 0.55)
    e.add(gold: 1, predicted: 1, confidence: 0.7)
    e.add(gold: 5, predicted: 0, confidence: 0.9)  // out of range: ignored
    #expect(e.examples == 3)
    #expect(abs(e.accuracy - 2.0 / 3.0) < 1e-12)
    // Class 2 never occurs nor is predicted: left out of the macro average.
    #expect(e.perClassF1[2] == nil)
    #expect(abs(e.macroF1 - (2.0 / 3.0 + 2.0 / 3.0) / 2) < 1e-12)
    // ECE over 15 bins: |1 - 0.95| / 3 + |0 - 0.55| / 3 + |1 - 0.7| / 3.
    #expect(abs((e.ece ?? 0) - (0.05 + 0.55 + 0.3) / 3) < 1e-9)
  }

  func denseLogits(_ values: [Float]) throws -> TeacherLogits {
    let blob = TeacherOutputCodec.encode(values, storage: .f32)
    return try blob.withUnsafeBytes { try TeacherOutputCodec.decode($0, storage: .f32, numOutputs: values.count) }
  }

  @Test func predictionsFromDenseAndTopKLogits() throws {
    let dense = try denseLogits([0, 2, 0])
    let p = try #require(ClassificationEvaluation.prediction(dense))
    #expect(p.predicted == 1)
    #expect(abs(p.confidence - exp(2) / (exp(2) + 2)) < 1e-9)
    let blob = TeacherOutputCodec.encode([0.1, 3, 0.2, 2, -1], storage: .topK(2))
    let top = try blob.withUnsafeBytes { try TeacherOutputCodec.decode($0, storage: .topK(2), numOutputs: 5) }
    let q = try #require(ClassificationEvaluation.prediction(top))
    #expect(q.predicted == 1)
    #expect(abs(q.confidence - 1 / (1 + exp(-1))) < 1e-3, "renormalised over the kept classes")
    // A NaN anywhere makes the output invalid (left out and counted), wherever it is.
    #expect(ClassificationEvaluation.prediction(try denseLogits([.nan, 1])) == nil)
    #expect(ClassificationEvaluation.prediction(try denseLogits([1, .nan])) == nil)
    #expect(ClassificationEvaluation.prediction(try denseLogits([-.infinity, 1]))?.predicted == 1)
  }
}

@Suite struct AttributionTests {
  func rows(_ spec: [(run: Int64, model: String, epoch: Int, split: String, names: [String])]) -> [MetricRow] {
    var out: [MetricRow] = []
    for s in spec {
      for n in s.names {
        out.append(MetricRow(rowID: Int64(out.count + 1), runID: s.run, model: s.model, epoch: s.epoch, step: s.epoch * 10,
                             split: s.split, name: n, value: 0.5))
      }
    }
    return out
  }

  func model(run: Int64, name: String, task: Int64) -> ModelRow {
    ModelRow(id: 0, runID: run, name: name, taskID: task, kind: "bow", path: "", parameters: 0, sizeBytes: 0,
             configJSON: "{}", resultsJSON: nil, createdAt: "")
  }

  @Test func oneRunTrainingTwoTasksIsSplitByLabelNames() {
    // Task 1 labels a,b; task 2 labels c,d,e. Same run, same model names, same epochs and steps.
    let spec: [(run: Int64, model: String, epoch: Int, split: String, names: [String])] = [
      (7, "kd", 1, "train", ["loss", "lr"]), (7, "kd", 1, "validation", ["accuracy", "f1:a", "f1:b"]),
      (7, "kd", 1, "test", ["accuracy", "f1:a", "f1:b"]), (7, "teacher", 0, "test", ["accuracy"]),
      (7, "kd", 1, "train", ["loss", "lr"]), (7, "kd", 1, "validation", ["accuracy", "f1:c", "f1:d", "f1:e"]),
      (7, "kd", 1, "test", ["accuracy", "f1:c", "f1:d", "f1:e"]), (7, "teacher", 0, "test", ["accuracy"]),
    ]
    let blocks = MetricAttribution.blocks(rows(spec))
    #expect(blocks.count == 8)
    let attributed = MetricAttribution.attribute(
      blocks, tasks: [(1, ["a", "b"]), (2, ["c", "d", "e"])],
      models: [model(run: 7, name: "kd", task: 1), model(run: 7, name: "kd", task: 2)])
    #expect(attributed.map(\.taskID) == [1, 1, 1, 1, 2, 2, 2, 2])
  }

  @Test func singleTaskRunsUseTheirModelRows() {
    // Labels shared by two tasks cannot decide; the run's only model row can.
    let spec: [(run: Int64, model: String, epoch: Int, split: String, names: [String])] = [
      (3, "kd", 1, "train", ["loss"]), (3, "kd", 1, "validation", ["accuracy", "f1:yes", "f1:no"]),
      (4, "baseline", 1, "train", ["loss"]),
    ]
    let attributed = MetricAttribution.attribute(
      MetricAttribution.blocks(rows(spec)), tasks: [(1, ["yes", "no"]), (2, ["yes", "no"])],
      models: [model(run: 3, name: "kd", task: 2)])
    #expect(attributed.map(\.taskID) == [2, 2, nil])
  }

  @Test func resumedRunsFillEarlierEpochsFromThePreviousRun() {
    let spec: [(run: Int64, model: String, epoch: Int, split: String, names: [String])] = [
      (1, "kd", 1, "train", ["loss"]), (1, "kd", 1, "validation", ["accuracy"]),
      (1, "kd", 2, "train", ["loss"]), (1, "kd", 2, "validation", ["accuracy"]),
      (2, "kd", 3, "train", ["loss"]), (2, "kd", 3, "validation", ["accuracy"]),
    ]
    var blocks = MetricAttribution.blocks(rows(spec))
    for i in blocks.indices { blocks[i].taskID = 1 }
    let points = TrainingViewBuilder.epochPoints(model: "kd", runID: 2, blocks: blocks)
    #expect(points.map(\.epoch) == [1, 2, 3])
    #expect(points.map(\.runID) == [1, 1, 2])
    // A fresh rerun from epoch 1 does not mix in the old run.
    let fresh = TrainingViewBuilder.epochPoints(model: "kd", runID: 1, blocks: blocks)
    #expect(fresh.map(\.runID) == [1, 1])
  }
}
