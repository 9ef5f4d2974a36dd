#!/usr/bin/env python3
"""Reference extraction with lxml, for the structured-reader benchmark and cross-checks.

Extracts the same fields as kd's Swift readers (see docs/readers.md) with
`lxml.etree.iterparse` (streaming, elements cleared after use) and prints one
JSON line per event in the shape of `kd-readbench dump`, or, with --bench,
timings per file. Independent of the Swift code: it is the oracle for the
counts written into Tests/KDIngestTests/XMLReaderTests.swift.

usage: reference.py [--bench] [--repeat N] FORMAT FILE...
FORMAT: pubmed | jats | uslm | akn | edgar
"""
import gzip
import json
import re
import sys
import time

from lxml import etree, html as lxml_html

PARSER_OPTS = dict(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def norm(text):
    return " ".join(text.split())


def local(tag):
    return etree.QName(tag).localname if isinstance(tag, str) else ""


# Elements that separate words (paragraph-level or table cells), per format.
BLOCKS = {
    "p", "sec", "title", "list-item", "list", "caption", "def-item", "disp-quote", "boxed-text", "statement",
    "label", "tr", "td", "th", "fn", "speech", "verse-line", "preformat",
    # USLM / Akoma Ntoso
    "subsection", "paragraph", "subparagraph", "clause", "subclause", "item", "subitem", "subsubitem",
    "chapeau", "continuation", "content", "quotedContent", "longTitle", "enactingFormula", "resolvingClause",
    "section", "level", "proviso", "note", "block", "listItem", "point", "intro", "wrapUp", "blockList",
    "listIntroduction", "listWrapUp", "question", "answer", "hcontainer", "article", "chapter", "part",
    "tblock", "heading", "subheading", "blockContainer", "alinea", "indent", "crossHeading", "from",
    "narrative", "num",
}


def text_of(el, skip=(), exclude=()):
    """Whitespace-normalised text of an element, skipping subtrees by local name
    (or the given element objects); tails of skipped elements are kept."""
    parts = []

    def walk(e):
        if e.text and local(e.tag) not in skip:
            parts.append(e.text)
        for c in e:
            if isinstance(c.tag, str) and (local(c.tag) in skip or any(c is x for x in exclude)):
                pass
            elif isinstance(c.tag, str):
                block = local(c.tag) in BLOCKS
                if block:
                    parts.append(" ")
                walk(c)
                if block:
                    parts.append(" ")
            if c.tail:
                parts.append(c.tail)

    walk(el)
    return norm("".join(parts))


def open_any(path):
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")


# ---------------------------------------------------------------- PubMed

def pubmed(path):
    with open_any(path) as f:
        tags = ("MedlineCitation", "PubmedArticle", "DeleteCitation")
        for _, el in etree.iterparse(f, events=("end",), tag=tags, **PARSER_OPTS):
            name = el.tag
            parent = el.getparent()
            if parent is None or parent.getparent() is not None:
                continue  # only children of the root
            if name in ("MedlineCitation", "PubmedArticle"):
                cit = el if name == "MedlineCitation" else el.find("MedlineCitation")
                yield pubmed_doc(cit, el if name == "PubmedArticle" else None)
            elif name == "DeleteCitation":
                for p in el.findall("PMID"):
                    yield {"delete": norm(p.text or "")}
            el.clear()
            while el.getprevious() is not None:
                del parent[0]


def pubmed_doc(cit, wrapper):
    art = cit.find("Article")
    sections = []
    labels = {}
    meta = {}
    title = None
    if art is not None:
        t = art.find("ArticleTitle")
        title = text_of(t) if t is not None else None
        for a in art.findall("Abstract/AbstractText"):
            txt = text_of(a)
            if not txt:
                continue
            cat = a.get("NlmCategory")
            lab = cat.upper() if cat and cat.upper() != "UNASSIGNED" else (a.get("Label") or "").upper() or None
            lab = None if lab in ("UNASSIGNED", "UNLABELLED") else lab
            sections.append({"heading": a.get("Label"), "label": lab, "identifier": None, "text": txt})
        j = art.findtext("Journal/Title")
        if j:
            meta["journal"] = norm(j)
        y = art.findtext("Journal/JournalIssue/PubDate/Year")
        if y is None:
            md = art.findtext("Journal/JournalIssue/PubDate/MedlineDate") or ""
            m = re.search(r"\d{4}", md)
            y = m.group(0) if m else None
        if y:
            meta["year"] = y
        langs = [norm(l.text or "") for l in art.findall("Language") if norm(l.text or "")]
        if langs:
            labels["language"] = langs
            meta["language"] = ",".join(langs)
        pts = [text_of(p) for p in art.findall("PublicationTypeList/PublicationType")]
        if pts:
            labels["pubtype"] = pts
    mesh = [text_of(d) for d in cit.findall("MeshHeadingList/MeshHeading/DescriptorName")]
    if mesh:
        labels["mesh"] = mesh
    return {"id": norm(cit.findtext("PMID") or ""), "title": title, "labels": labels, "metadata": meta,
            "sections": sections}


# ---------------------------------------------------------------- JATS

JATS_SKIP = {"table-wrap", "table-wrap-group", "table", "fig", "fig-group", "ref-list", "graphic", "media",
             "supplementary-material", "disp-formula", "tex-math", "math", "alternatives", "inline-graphic"}


def jats(path):
    with open_any(path) as f:
        for _, el in etree.iterparse(f, events=("end",), tag="article", **PARSER_OPTS):
            yield jats_doc(el)
            el.clear()


def jats_doc(art):
    meta = {}
    am = art.find("front/article-meta")
    title = None
    sections = []
    if am is not None:
        for i in am.findall("article-id"):
            t = i.get("pub-id-type")
            v = norm(i.text or "")
            if t in ("pmc", "pmcid"):
                meta["pmc"] = v if v.startswith("PMC") else "PMC" + v
            elif t == "pmid":
                meta["pmid"] = v
            elif t == "doi":
                meta["doi"] = v
        t = am.find("title-group/article-title")
        title = text_of(t) if t is not None else None
        abstracts = am.findall("abstract")
        main = next((a for a in abstracts if a.get("abstract-type") is None), None)
        if main is None:
            main = next((a for a in abstracts if a.get("abstract-type") not in
                         ("graphical", "teaser", "toc", "editor", "author-highlights")), None)
        if main is not None:
            secs = main.findall("sec")
            if not secs:
                txt = text_of(main, skip={"title"} | JATS_SKIP)
                if txt:
                    sections.append({"heading": "Abstract", "label": "ABSTRACT", "text": txt})
            for s in secs:
                txt = text_of(s, skip={"title"} | JATS_SKIP) if False else sec_text(s)
                if txt:
                    h = s.find("title")
                    sections.append({"heading": text_of(h) if h is not None else None, "text": txt})
    body = art.find("body")
    if body is not None:
        loose = []
        for c in body:
            if not isinstance(c.tag, str):
                continue
            if c.tag == "sec":
                if loose:
                    sections.append({"heading": None, "text": " ".join(loose)})
                    loose = []
                h = c.find("title")
                txt = sec_text(c)
                if txt:
                    sections.append({"heading": text_of(h) if h is not None else None, "text": txt})
            elif c.tag not in JATS_SKIP:
                t = text_of(c, skip=JATS_SKIP)
                if t:
                    loose.append(t)
        if loose:
            sections.append({"heading": None, "text": " ".join(loose)})
    ext = meta.get("pmc") or meta.get("pmid") or meta.get("doi")
    return {"id": ext, "title": title, "metadata": meta, "sections": sections}


def sec_text(sec):
    """Section text without its own title; nested titles and paragraphs kept."""
    parts = []
    if sec.text:
        parts.append(sec.text)
    own = sec.find("title")
    for c in sec:
        if c is own:
            pass
        elif isinstance(c.tag, str) and local(c.tag) not in JATS_SKIP:
            parts.append(" " + text_of(c, skip=JATS_SKIP) + " ")
        if c.tail:
            parts.append(c.tail)
    return norm("".join(parts))


# ---------------------------------------------------------------- USLM

USLM_NS = "http://schemas.gpo.gov/xml/uslm"


def uslm(path):
    root = etree.parse(path, etree.XMLParser(**PARSER_OPTS)).getroot()
    sections = []

    def walk(e):
        for c in e:
            if not isinstance(c.tag, str):
                continue
            n = local(c.tag)
            if n == "section":
                num = c.find("{%s}num" % USLM_NS)
                head = c.find("{%s}heading" % USLM_NS)
                notes = {"page", "toc", "sidenote", "footnote"}
                heading = " ".join(x for x in [text_of(num, skip=notes) if num is not None else "",
                                               text_of(head, skip=notes) if head is not None else ""] if x) or None
                sections.append({"heading": heading, "identifier": c.get("identifier"),
                                 "text": text_of(c, skip={"page", "toc", "sidenote", "footnote"},
                                                 exclude=[x for x in (num, head) if x is not None])})
            elif n in ("quotedContent", "quotedText", "toc", "layout"):
                continue
            else:
                walk(c)

    walk(root)
    meta = root.find("{%s}meta" % USLM_NS)
    dc = "{http://purl.org/dc/elements/1.1/}"
    title = meta.findtext(dc + "title") if meta is not None else None
    official = root.find(".//{%s}officialTitle" % USLM_NS)
    yield {"id": None, "title": text_of(official) if official is not None else (norm(title) if title else None),
           "labels": {"doctype": [local(root.tag)]}, "sections": sections}


# ---------------------------------------------------------------- Akoma Ntoso

def akn(path):
    root = etree.parse(path, etree.XMLParser(**PARSER_OPTS)).getroot()
    doc = next(c for c in root if isinstance(c.tag, str))
    sections = []
    opaque = {"quotedStructure", "quotedText", "mod", "embeddedStructure", "authorialNote", "toc"}

    def walk(e):
        for c in e:
            if not isinstance(c.tag, str):
                continue
            n = local(c.tag)
            pn = local(e.tag)
            if n in ("article", "section") or pn in ("debateBody", "judgmentBody"):
                ids = c.get("eId") or c.get("id") or c.get("wId")
                sections.append({"identifier": ids, "label": n.upper() if pn == "judgmentBody" else None})
            elif n in opaque or n == "meta":
                continue
            else:
                walk(c)

    walk(root)  # components of a documentCollection are siblings of the document element
    country = root.find(".//{*}FRBRWork/{*}FRBRcountry")
    labels = {"doctype": [local(doc.tag)]}
    if country is not None:
        labels["jurisdiction"] = [country.get("value")]
    yield {"labels": labels, "sections": sections}


# ---------------------------------------------------------------- EDGAR

def edgar(path):
    data = open(path, "rb").read()
    m = re.match(rb"\s*<DOCUMENT>.*?<TEXT>", data, re.S)
    env_type = None
    if m:
        t = re.search(rb"<TYPE>([^\r\n<]+)", m.group(0))
        env_type = t.group(1).strip().decode() if t else None
        data = data[m.end():]
    doc = lxml_html.document_fromstring(data, parser=lxml_html.HTMLParser(recover=True, no_network=True))
    form = None
    for el in doc.iter():
        if isinstance(el.tag, str) and el.get("name") == "dei:DocumentType":
            form = norm(el.text_content()).upper()
            break
    form = form or env_type
    hidden = {"script", "style", "head", "title", "noscript", "ix:header", "header", "template", "object"}
    blocks_tags = {"p", "div", "br", "tr", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "table",
                   "section", "center", "blockquote", "hr", "dt", "dd", "dl", "pre", "body", "html", "article",
                   "footer"}
    blocks, cur = [], []

    def flush():
        t = norm("".join(cur))
        if t:
            blocks.append(t)
        cur.clear()

    def walk(e):
        tag = e.tag if isinstance(e.tag, str) else ""
        style = (e.get("style") or "").replace(" ", "").lower()
        if tag in hidden or "display:none" in style:
            return
        block = tag in blocks_tags
        if block:
            flush()
        if tag in ("td", "th"):
            cur.append(" ")
        if e.text:
            cur.append(e.text)
        for c in e:
            walk(c)
            if c.tail:
                cur.append(c.tail)
        if block:
            flush()

    walk(doc)
    flush()
    item_re = re.compile(r"^(?:PART\s+[IV]+\W*)?ITEM\s*(\d{1,2}(?:\.\d\d)?[A-D]?)(?![A-Za-z0-9])", re.I)
    items = [item_re.match(b).group(1).upper() for b in blocks if item_re.match(b)]
    yield {"labels": {"form": [form]} if form else {}, "blocks": len(blocks), "item_blocks": items,
           "text_chars": sum(len(b) for b in blocks)}


READERS = {"pubmed": pubmed, "jats": jats, "uslm": uslm, "akn": akn, "edgar": edgar}


def main(argv):
    bench = False
    repeat = 1
    args = []
    i = 0
    while i < len(argv):
        if argv[i] == "--bench":
            bench = True
        elif argv[i] == "--repeat":
            i += 1
            repeat = int(argv[i])
        else:
            args.append(argv[i])
        i += 1
    if len(args) < 2 or args[0] not in READERS:
        print(__doc__, file=sys.stderr)
        return 2
    fmt, files = args[0], args[1:]
    import os
    if bench:
        print("file\treader\tMB\tdocuments\tsections\tseconds\tMB/s")
    tot_mb = tot_s = 0.0
    tot_docs = tot_secs = 0
    for path in files:
        if bench:
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                docs = secs = 0
                for ev in READERS[fmt](path):
                    if "delete" not in ev:
                        docs += 1
                        secs += len(ev.get("sections", []))
                times.append(time.perf_counter() - t0)
            med = sorted(times)[len(times) // 2]
            mb = os.path.getsize(path) / 1e6
            tot_mb += mb
            tot_s += med
            tot_docs += docs
            tot_secs += secs
            print(f"{os.path.basename(path)}\tlxml-{fmt}\t{mb:.2f}\t{docs}\t{secs}\t{med:.3f}\t{mb / med:.1f}")
        else:
            for ev in READERS[fmt](path):
                ev["file"] = os.path.basename(path)
                print(json.dumps(ev, sort_keys=True, ensure_ascii=False))
    if bench:
        print(f"TOTAL\t-\t{tot_mb:.2f}\t{tot_docs}\t{tot_secs}\t{tot_s:.4f}\t{tot_mb / max(tot_s, 1e-9):.1f}")
        import resource
        print(f"peak_rss_mb\t{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
