import Foundation
import KDCore
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDReport

#if canImport(FoundationXML)
  import FoundationXML
#endif

/// Parses the page strictly as XML: any unbalanced tag, bad attribute or stray `&` throws.
func parsePage(_ html: String) throws -> XMLDocument {
  try XMLDocument(data: Data(html.utf8), options: [])
}

/// The string values of the nodes an XPath selects.
func strings(_ doc: XMLDocument, _ xpath: String) throws -> [String] {
  try doc.nodes(forXPath: xpath).map { $0.stringValue ?? "" }
}

@Suite struct ReportRenderTests {
  let fixedDate = Date(timeIntervalSince1970: 1_800_000_000)

  func renderFixture(_ fixture: ReportFixture = ReportFixture(), task: String? = nil) throws
    -> (html: String, summary: ReportSummary, expected: ReportFixture.Expected, dir: TemporaryDirectory)
  {
    let dir = try TemporaryDirectory()
    let (store, expected) = try fixture.build(at: dir.file("data.sqlite"))
    let page = try KDReportGenerator.render(store: store, task: task, now: fixedDate)
    return (page.html, page.summary, expected, dir)
  }

  @Test func pageIsWellFormedAndSelfContained() throws {
    let r = try renderFixture()
    let doc = try parsePage(r.html)
    #expect(doc.rootElement()?.name == "html")
    #expect(r.html.hasPrefix("<!DOCTYPE html>"))
    // No script, no external resource.
    #expect(!r.html.lowercased().contains("<script"))
    #expect(try doc.nodes(forXPath: "//script").isEmpty)
    #expect(try doc.nodes(forXPath: "//link").isEmpty)
    #expect(try doc.nodes(forXPath: "//img").isEmpty)
    #expect(!r.html.contains("http://") && !r.html.contains("https://"))
    #expect(try doc.nodes(forXPath: "//svg").count >= 10)
    // Every chart has an accessible name.
    #expect(try doc.nodes(forXPath: "//svg[not(@aria-label)]").isEmpty)
  }

  @Test func everySectionIsThere() throws {
    let r = try renderFixture()
    let doc = try parsePage(r.html)
    let ids = Set(try strings(doc, "//section/@id"))
    let expected = ["overview", "dataset", "teachers", "training", "task-topics", "task-topics-data", "task-topics-curves",
                    "task-topics-comparison", "task-topics-confusion", "task-topics-agreement", "task-topics-calibration"]
    for id in expected { #expect(ids.contains(id), "section \(id)") }
    #expect(Set(r.summary.sections).isSuperset(of: expected), "all rendered with data: \(r.summary.emptySections)")
    #expect(r.summary.emptySections.isEmpty)
    #expect(r.summary.tasks == ["topics"])
    #expect(r.summary.trainedTasks == ["topics"])
    #expect(r.summary.teachers == ["mini-teacher"])
    // The navigation links resolve.
    for href in try strings(doc, "//nav//a/@href") {
      #expect(ids.contains(String(href.dropFirst())), "link \(href)")
    }
    // Charts of each kind: curves (paths), bars, heatmap cells, reliability diagram.
    #expect(try doc.nodes(forXPath: "//section[@id='task-topics-curves']//svg//path").count >= 4)
    #expect(try doc.nodes(forXPath: "//section[@id='task-topics-confusion']//svg//rect").count >= 9)
    #expect(try doc.nodes(forXPath: "//section[@id='task-topics-calibration']//svg").count == 2)
  }

  @Test func textFromTheDatabaseIsEscaped() throws {
    let r = try renderFixture()
    #expect(!r.html.contains(ReportFixture.evilLabel))
    #expect(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
    #expect(!r.html.contains("<b>&</b>"))
    #expect(r.html.contains("legal &lt;b&gt;&amp;&lt;/b&gt; &#39;x&#39;"))
    #expect(r.html.contains("beta &amp; &quot;co&quot;"))
    // Parsed back, the texts are the original ones.
    let doc = try parsePage(r.html)
    let labelCells = try strings(doc, "//section[@id='task-topics-data']//table//td[1]")
    #expect(labelCells.contains(ReportFixture.evilLabel))
    #expect(labelCells.contains("beta & \"co\""))
    let domains = try strings(doc, "//table[@class='domains']//td[1]")
    #expect(domains.contains(ReportFixture.evilDomain))
    // Labels inside SVG (axis labels and tooltips) too.
    let svgTexts = try strings(doc, "//section[@id='task-topics-confusion']//svg//text")
    #expect(svgTexts.contains { $0.contains(ReportFixture.evilLabel) })
  }

  @Test func datasetNumbersMatchTheDatabase() throws {
    let r = try renderFixture()
    let doc = try parsePage(r.html)
    for (domain, examples) in r.expected.examplesPerDomain {
      let row = "//table[@class='domains']//tr[td[1]=\(xpathLiteral(domain))]"
      #expect(try strings(doc, row + "/td[3]") == [Format.int(r.expected.documentsPerDomain[domain] ?? -1)], "documents of \(domain)")
      #expect(try strings(doc, row + "/td[7]") == [Format.int(examples)], "examples of \(domain)")
      #expect(try strings(doc, row + "/td[9]") == [Format.int(r.expected.tokensPerDomain[domain] ?? -1)], "tokens of \(domain)")
    }
    let total = r.expected.examplesPerDomain.values.reduce(0, +)
    #expect(try strings(doc, "//table[@class='domains']//tr[@class='total']/td[7]") == [Format.int(total)])
    #expect(try strings(doc, "//table[@class='domains']//tr[@class='total']/td[8]") == ["1"], "one duplicate")
    // Label counts per split.
    for (label, perSplit) in r.expected.labelCounts {
      let row = "//section[@id='task-topics-data']//table//tr[td[1]=\(xpathLiteral(label))]"
      #expect(try strings(doc, row + "/td[2]") == [Format.int(perSplit["train"] ?? 0)], "train \(label)")
      #expect(try strings(doc, row + "/td[4]") == [Format.int(perSplit["test"] ?? 0)], "test \(label)")
    }
    // Tokens per split and per label.
    let testTokens = try strings(doc, "//table[@class='splits']//tr[td[1]='test']/td[6]")
    #expect(testTokens == [Format.int(r.expected.tokensPerSplit["test"] ?? -1)])
    #expect(try strings(doc, "//table[@class='splits']//tr[td[1]='train']/td[3]") == [Format.int(r.expected.examplesPerSplit["train"] ?? -1)])
    for (label, tokens) in r.expected.tokensPerLabel {
      let row = "//section[@id='task-topics-data']//table//tr[td[1]=\(xpathLiteral(label))]"
      #expect(try strings(doc, row + "/td[6]") == [Format.int(tokens)], "tokens of \(label)")
    }
    #expect(try strings(doc, "//section[@id='task-topics-data']//table//tr[td[1]='unlabeled']/td[5]")
      == [Format.int(r.expected.unlabeled)])
    // Length table: token counts (words + 2 specials, 5 to 9 in the fixture) over the tokenized
    // examples: all but the duplicate, which the fixture does not tokenize.
    #expect(try strings(doc, "//table[@class='lengths']//tr[@class='total']/td[2]") == [Format.int(total - 1)])
    #expect(try strings(doc, "//table[@class='lengths']//tr[@class='total']/td[7]") == ["9"])
    // The overview card counts examples.
    #expect(r.html.contains("<div class=\"card-value\">\(Format.int(total))</div>"))
  }

  @Test func teacherConfusionMatrixComesFromTheCachedLogits() throws {
    let r = try renderFixture()
    let doc = try parsePage(r.html)
    let cells = try strings(doc, "//section[@id='task-topics-confusion']//svg//rect/title")
    for g in 0..<3 {
      for p in 0..<3 {
        let text = "gold \(ReportFixture.labels[g]) → predicted \(ReportFixture.labels[p]): \(r.expected.teacherConfusion[g][p]) "
        #expect(cells.contains { $0.hasPrefix(text) }, "cell \(g),\(p)")
      }
    }
    // 7 of 9 right: the teachers table shows the computed test accuracy.
    #expect(try strings(doc, "//table[@class='teachers']//tr/td[8]") == [Format.metric(7.0 / 9.0)])
    // Coverage: 9 outputs over the task's non-duplicate examples.
    let eligible = r.expected.examplesPerDomain.values.reduce(0, +) - r.expected.duplicates
    #expect(try strings(doc, "//table[@class='teachers']//tr/td[6]") == [Format.percent(9.0 / Double(eligible))])
  }

  @Test func trainingResultsMatchTheMetricsRows() throws {
    let r = try renderFixture()
    let doc = try parsePage(r.html)
    let table = "//table[@class='comparison']//tr"
    #expect(try strings(doc, table + "[starts-with(td[1], 'kd')]/td[2]") == [Format.metric(r.expected.kdTestAccuracy)])
    #expect(try strings(doc, table + "[starts-with(td[1], 'baseline')]/td[2]") == [Format.metric(r.expected.baselineTestAccuracy)])
    #expect(try strings(doc, table + "[starts-with(td[1], 'teacher')]/td[2]") == [Format.metric(r.expected.teacherTestAccuracy)])
    #expect(try strings(doc, table + "[starts-with(td[1], 'kd')]/td[5]") == ["0.900"], "agreement")
    // Summary table: kd − baseline in points.
    let delta = try strings(doc, "//table[@class='summary']//tr/td[5]")
    #expect(delta == ["+12.5 pts"])
    // Curves: one point per epoch and model, train and validation loss lines.
    let points = try doc.nodes(forXPath: "(//section[@id='task-topics-curves']//svg)[1]//circle")
    #expect(points.count == 2 * 3 * 2)
    #expect(try strings(doc, "//table[@class='curves']//tr[td[1]='kd']/td[2]") == ["3"])
    #expect(try strings(doc, "//table[@class='curves']//tr[td[1]='kd']/td[3]") == ["2"], "best epoch")
  }

  @Test func taskFilterKeepsOneTaskAndRejectsUnknownNames() throws {
    let dir = try TemporaryDirectory()
    let (store, _) = try ReportFixture().build(at: dir.file("d.sqlite"))
    let other = try store.taskID(named: "other_task")
    _ = try store.labelID(task: other, name: "x")
    let all = try KDReportGenerator.render(store: store)
    #expect(all.summary.tasks.contains("other_task") == false, "a task without examples, teacher or model has no section")
    let one = try KDReportGenerator.render(store: store, task: "topics")
    #expect(one.summary.tasks == ["topics"])
    #expect(throws: KDError.self) { try KDReportGenerator.render(store: store, task: "nope") }
    do {
      _ = try KDReportGenerator.render(store: store, task: "nope")
    } catch let e as KDError {
      #expect(e.kind == .usage)
      #expect(e.message.contains("topics"), "lists the known tasks: \(e.message)")
    }
  }

  @Test func writeUsesTheDefaultPathNextToTheDatabase() throws {
    let dir = try TemporaryDirectory()
    _ = try ReportFixture(withTeacher: false, withTraining: false).build(at: dir.file("data.sqlite"))
    let summary = try KDReportGenerator.write(ReportOptions(databasePath: dir.file("data.sqlite")))
    #expect(summary.path == URL(fileURLWithPath: dir.file("kd-report.html")).standardizedFileURL.path)
    let html = try String(contentsOfFile: summary.path, encoding: .utf8)
    #expect(summary.bytes == html.utf8.count)
    _ = try parsePage(html)
    // A folder as --out is refused with a message naming it.
    #expect(throws: KDError.self) { try KDReportGenerator.write(ReportOptions(databasePath: dir.file("data.sqlite"), outputPath: dir.path)) }
    // A missing database is an I/O error, not a new empty file.
    #expect(throws: KDError.self) { try KDReportGenerator.write(ReportOptions(databasePath: dir.file("missing.sqlite"))) }
    #expect(!FileManager.default.fileExists(atPath: dir.file("missing.sqlite")))
  }
}

/// An XPath string literal for any text (quotes handled with concat()).
func xpathLiteral(_ s: String) -> String {
  if !s.contains("'") { return "'\(s)'" }
  if !s.contains("\"") { return "\"\(s)\"" }
  return "concat(" + s.split(separator: "'", omittingEmptySubsequences: false).map { "'\($0)'" }.joined(separator: ", \"'\", ") + ")"
}
