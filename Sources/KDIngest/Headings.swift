import Foundation

/// Where a structured section's heading ("SEC. 2. DEFINITIONS.", "Methods",
/// "Article 3 Scope") is kept, set per manifest entry with `headings:`.
/// Applies to the `uslm`, `akn` and `jats` readers; other readers keep their
/// behaviour (PubMed and EDGAR headings are section labels already).
///
/// | value | example text | example `section` field |
/// |---|---|---|
/// | `text` | heading, a blank line, then the section text | identifier, else heading |
/// | `section` | section text only | heading, else identifier |
/// | `both` | heading, a blank line, then the section text | heading, else identifier |
/// | `none` | section text only | identifier, else heading (kd before issue 16) |
/// | `auto` (default) | as `text`, except for a section whose label is the example's label (a JATS `METHODS` section under a section task), which is stored as `section` so that the heading does not give the label away | |
///
/// With `segment: document` (or sentences, window) the headings go before each
/// section's text inside the document text for `text`, `both` and `auto`.
public enum HeadingPlacement: String, CaseIterable, Sendable {
  case auto, text, section, both, none

  /// The formats whose headings this setting governs.
  public static let formats: Set<String> = ["uslm", "akn", "jats"]

  /// The placement for one section: `auto` resolved.
  func resolved(sectionLabelIsExampleLabel: Bool) -> HeadingPlacement {
    guard self == .auto else { return self }
    return sectionLabelIsExampleLabel ? .section : .text
  }

  var inText: Bool { self == .text || self == .both }
  var inSectionField: Bool { self == .section || self == .both }

  /// The example text with the heading first, when the placement says so.
  static func text(_ section: DocumentSection, placement: HeadingPlacement) -> String {
    guard placement.inText, let h = section.heading?.trimmingCharacters(in: .whitespacesAndNewlines), !h.isEmpty else {
      return section.text
    }
    if section.text.isEmpty { return h }
    // A heading the text already starts with is not repeated.
    if section.text.hasPrefix(h) { return section.text }
    return h + "\n\n" + section.text
  }

  /// The example's `section` field.
  static func sectionField(_ section: DocumentSection, placement: HeadingPlacement) -> String? {
    let heading = section.heading.flatMap { $0.isEmpty ? nil : $0 }
    return placement.inSectionField ? (heading ?? section.identifier) : (section.identifier ?? heading)
  }
}
