import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDReport

/// The report must render whatever stage the pipeline has reached, and say what is missing.
@Suite struct PartialStoreTests {
  @Test func emptyStoreRendersEverySectionWithAHint() throws {
    let dir = try TemporaryDirectory()
    let store = try makeTemporaryStore(dir)
    let page = try KDReportGenerator.render(store: store)
    let doc = try parsePage(page.html)
    let ids = Set(try strings(doc, "//section/@id"))
    #expect(ids.isSuperset(of: ["overview", "dataset", "teachers", "training"]))
    #expect(page.summary.tasks.isEmpty)
    #expect(page.summary.sections == ["overview"])
    #expect(page.html.contains("Run <code>kd-ingest"))
    #expect(page.html.contains("No training run yet"))
  }

  @Test func ingestOnlyStoreSaysNoTrainingRunYet() throws {
    let dir = try TemporaryDirectory()
    let (store, expected) = try ReportFixture(withTeacher: false, withTraining: false).build(at: dir.file("d.sqlite"))
    let page = try KDReportGenerator.render(store: store)
    let doc = try parsePage(page.html)
    #expect(page.summary.trainedTasks.isEmpty)
    #expect(page.summary.emptySections.contains("training"))
    #expect(page.summary.emptySections.contains("teachers"))
    #expect(page.summary.emptySections.contains("task-topics-training"))
    #expect(page.summary.sections.contains("task-topics-data"))
    let training = try strings(doc, "//section[@id='training']/p")
    #expect(training.contains { $0.hasPrefix("No training run yet") })
    let part = try strings(doc, "//section[@id='task-topics-training']/p")
    #expect(part.contains { $0.hasPrefix("No training run yet for this task") })
    // The dataset part is complete all the same.
    let total = expected.examplesPerDomain.values.reduce(0, +)
    #expect(try strings(doc, "//table[@class='domains']//tr[@class='total']/td[7]") == [Format.int(total)])
    #expect(try doc.nodes(forXPath: "//section[@id='dataset']//svg").count == 2, "split bars and length histogram")
  }

  @Test func teacherWithoutTrainingShowsTheTeacherOnly() throws {
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture(withTeacher: true, withTraining: false).build(at: dir.file("d.sqlite"))
    let page = try KDReportGenerator.render(store: store)
    let doc = try parsePage(page.html)
    #expect(page.summary.sections.contains("task-topics-confusion"))
    #expect(page.summary.sections.contains("task-topics-calibration"))
    #expect(page.summary.sections.contains("task-topics-comparison"))
    #expect(page.summary.emptySections.contains("task-topics-curves"))
    #expect(page.summary.emptySections.contains("task-topics-agreement"))
    let rows = try strings(doc, "//table[@class='comparison']//tr/td[1]")
    #expect(rows == ["teacher (mini-teacher)"])
    #expect(try strings(doc, "//table[@class='comparison']//tr/td[2]") == [Format.metric(7.0 / 9.0)])
  }

  @Test func teacherWithoutOutputsOrWithAMismatchedOutputSpaceIsExplained() throws {
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture(withTeacher: false, withTraining: false).build(at: dir.file("d.sqlite"))
    let task = try #require(try store.task(named: ReportFixture.task))
    try store.db.run("INSERT INTO teachers (name, kind, task_id, storage, num_outputs, created_at) VALUES ('empty-t', 'bert', ?, 'f32', 3, '2026-01-01T00:00:00Z')", [.int(task.id)])
    try store.db.run("INSERT INTO teachers (name, kind, task_id, storage, num_outputs, created_at) VALUES ('wide-t', 'external', ?, 'f16', 7, '2026-01-01T00:00:00Z')", [.int(task.id)])
    let wide = store.db.lastInsertRowID
    let ex = try #require(try store.db.scalarInt("SELECT MIN(id) FROM examples WHERE split = 'test'"))
    try store.db.run("INSERT INTO teacher_outputs (example_id, teacher_id, logits) VALUES (?, ?, ?)",
                     [.int(ex), .int(wide), .blob(TeacherOutputCodec.encode([1, 2, 3, 4, 5, 6, 7], storage: .f16))])
    let page = try KDReportGenerator.render(store: store)
    #expect(page.html.contains("Teacher empty-t has no cached outputs yet."))
    #expect(page.html.contains("Teacher wide-t could not be scored: it has 7 outputs but task &#39;topics&#39; has 3 labels"))
    _ = try parsePage(page.html)
  }

  @Test func corruptTeacherBlobIsReportedNotFatal() throws {
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture(withTeacher: true, withTraining: false).build(at: dir.file("d.sqlite"))
    try store.db.run("UPDATE teacher_outputs SET logits = x'0102' WHERE example_id = (SELECT MIN(example_id) FROM teacher_outputs)")
    let page = try KDReportGenerator.render(store: store)
    #expect(page.html.contains("could not be scored"))
    #expect(page.html.contains("teacher output blob has 2 bytes, expected 12"))
  }

  @Test func metricsWithoutModelRowsStillDrawCurves() throws {
    // A run that failed after two epochs: metrics rows but no models row.
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture(withTeacher: false, withTraining: false).build(at: dir.file("d.sqlite"))
    let run = try store.beginRun(stage: "train", commandLine: ["kd-train"])
    for epoch in 1...2 {
      try store.insertMetrics(runID: run, model: "kd", epoch: epoch, step: epoch * 5, split: "train", values: [("loss", 1.0 / Double(epoch))])
      try store.insertMetrics(runID: run, model: "kd", epoch: epoch, step: epoch * 5, split: "validation",
                              values: [("accuracy", 0.5), ("macro_f1", 0.4)] + ReportFixture.labels.map { ("f1:" + $0, 0.5) })
    }
    try store.endRun(run, status: .failed, error: "the loss became nan")
    let page = try KDReportGenerator.render(store: store)
    let doc = try parsePage(page.html)
    #expect(page.summary.trainedTasks == ["topics"])
    #expect(page.summary.sections.contains("task-topics-curves"))
    #expect(try doc.nodes(forXPath: "(//section[@id='task-topics-curves']//svg)[1]//circle").count == 2)
    #expect(try strings(doc, "//table[@class='comparison']//tr/td[1]") == ["kd"])
    #expect(try strings(doc, "//table[@class='comparison']//tr/td[2]") == ["—"], "no test metrics")
    #expect(page.html.contains("error: the loss became nan"))
  }

  @Test func modelRowWithoutMetricsUsesItsResultsJSON() throws {
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture(withTeacher: false, withTraining: false).build(at: dir.file("d.sqlite"))
    let task = try #require(try store.task(named: ReportFixture.task))
    let run = try store.beginRun(stage: "train", commandLine: ["kd-train"])
    _ = try store.insertModel(
      runID: run, name: "baseline", taskID: task.id, kind: "mlp", path: "/m", parameters: 100, sizeBytes: 400,
      configJSON: "{}",
      resultsJSON: #"{"bestEpoch": 4, "test": {"accuracy": 0.61, "macroF1": 0.5, "ece": 0.2, "examples": 9, "perClassF1": [0.1, 0.2, 0.3], "confusion": [[1,2,0],[0,3,0],[0,0,3]]}}"#)
    let page = try KDReportGenerator.render(store: store)
    let doc = try parsePage(page.html)
    #expect(try strings(doc, "//table[@class='comparison']//tr/td[2]") == ["0.610"])
    // A confusion matrix in results_json is drawn.
    let cells = try strings(doc, "//section[@id='task-topics-confusion']//svg//rect/title")
    #expect(cells.contains { $0.hasPrefix("gold alpha → predicted beta & \"co\": 2 ") })
    #expect(page.summary.emptySections.contains("task-topics-curves"))
  }

  @Test func malformedJSONColumnsAreIgnored() throws {
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture(withTeacher: true, withTraining: true).build(at: dir.file("d.sqlite"))
    try store.db.run("UPDATE models SET results_json = '{not json'")
    try store.db.run("UPDATE runs SET counts_json = '[1,2'")
    try store.db.run("UPDATE teachers SET head_json = 'x', config_json = '7'")
    let page = try KDReportGenerator.render(store: store)
    _ = try parsePage(page.html)
    #expect(page.summary.trainedTasks == ["topics"])
  }
}
