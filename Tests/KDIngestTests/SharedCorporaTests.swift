import Foundation
@testable import KDStore
import KDTestSupport
import Testing

@testable import KDIngest

/// The labeled sets of ../shared/corpora, ingested with the committed
/// manifest, must come out with the counts their READMEs state.
@Suite struct SharedCorporaIngestTests {
  @Test func labeledSetsHaveTheirPublishedCounts() throws {
    guard let shared = TestPaths.sharedCorpora else {
      TestPaths.skipNote("../shared/corpora")
      return
    }
    let dir = try TemporaryDirectory()
    let db = dir.file("s.sqlite")
    let manifest = TestPaths.packageRoot + "/corpora/shared.kd-corpus.yaml"
    let summary = try ingest(shared, db: db, manifest: manifest)
    let store = try Store.open(path: db)
    func n(_ task: String, _ extra: String = "") throws -> Int {
      Int(try store.db.scalarInt("SELECT COUNT(*) FROM examples e JOIN tasks t ON t.id = e.task_id WHERE t.name = ? \(extra)", [.text(task)]) ?? -1)
    }
    func label(_ task: String, _ name: String) throws -> Int {
      Int(try store.db.scalarInt("""
        SELECT COUNT(*) FROM example_labels x JOIN labels l ON l.id = x.label_id JOIN tasks t ON t.id = l.task_id
        WHERE t.name = ? AND l.name = ?
        """, [.text(task), .text(name)]) ?? -1)
    }
    // medical_abstracts_tc: 2,888 abstracts, class names from medical_tc_labels.csv.
    #expect(try n("medical_abstracts_tc") == 2888)
    #expect(try label("medical_abstracts_tc", "neoplasms") == 633)
    #expect(try label("medical_abstracts_tc", "digestive system diseases") == 299)
    #expect(try label("medical_abstracts_tc", "nervous system diseases") == 385)
    #expect(try label("medical_abstracts_tc", "cardiovascular diseases") == 610)
    #expect(try label("medical_abstracts_tc", "general pathological conditions") == 961)
    // claudette: 17,383 sentences in 50 documents; tags of level 2/3 = unfair.
    #expect(try n("claudette") == 17383)
    #expect(try store.db.scalarInt("SELECT COUNT(DISTINCT d.id) FROM documents d JOIN sources s ON s.id = d.source_id WHERE s.path LIKE 'legal/claudette_unfair_tos_en/sentences/%'") == 50)
    #expect(try label("claudette", "unfair") + label("claudette", "fair") == 17383)
    #expect(try label("claudette", "unfair") == 1374)
    // banking77: 10,003 train (a tenth to validation) + 3,080 test, 77 intents.
    #expect(try n("banking77") == 13083)
    #expect(try n("banking77", "AND e.split = 'test'") == 3080)
    #expect(try n("banking77", "AND e.split = 'train'") + n("banking77", "AND e.split = 'validation'") == 10003)
    #expect(try store.task(named: "banking77")?.labels.count == 77)
    // Documents never straddle splits.
    #expect(try store.db.scalarInt("SELECT COUNT(*) FROM (SELECT document_id FROM examples GROUP BY document_id HAVING COUNT(DISTINCT split) > 1)") == 0)
    // A second run adds nothing.
    let again = try ingest(shared, db: db, manifest: manifest)
    #expect(again.examplesAdded == 0 && again.filesNew == 0 && again.filesChanged == 0)
    #expect(summary.filesSeen == again.filesSeen)
  }
}
