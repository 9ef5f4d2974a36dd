/// The report's stylesheet, inlined in the page (no web fonts, no external files).
///
/// It must stay free of `<` and `&` so that the page remains well-formed XML.
enum ReportStyle {
  static let css = """
    :root {
      --ink: #1d2433; --muted: #5f6b7a; --faint: #8a94a3; --line: #e3e7ed; --panel: #f6f8fb;
      --accent: #2f6db5; --accent-soft: #e8f0fa; --ok: #2e7d4f; --warn: #b26a00; --bad: #b3261e;
    }
    * { box-sizing: border-box; }
    html { -webkit-text-size-adjust: 100%; }
    body {
      margin: 0; color: var(--ink); background: #ffffff;
      font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans", "Liberation Sans", sans-serif;
      font-variant-numeric: tabular-nums;
    }
    .wrap { max-width: 1180px; margin: 0 auto; padding: 0 28px; }
    code { font: 12.5px/1.4 ui-monospace, "SFMono-Regular", Menlo, Consolas, "Liberation Mono", monospace;
      background: var(--panel); border: 1px solid var(--line); border-radius: 4px; padding: 1px 5px; overflow-wrap: anywhere; }
    a { color: var(--accent); text-decoration: none; }
    a:hover { text-decoration: underline; }

    .page-header { background: linear-gradient(120deg, #1d3557 0%, #2f6db5 100%); color: #ffffff; padding: 30px 0 26px; }
    .page-header h1 { margin: 2px 0 6px; font-size: 30px; font-weight: 650; letter-spacing: -0.01em; word-break: break-all; }
    .eyebrow { margin: 0; text-transform: uppercase; letter-spacing: 0.12em; font-size: 12px; opacity: 0.8; }
    .meta { margin: 0; font-size: 13px; opacity: 0.9; }
    .meta span + span::before { content: "·"; margin: 0 8px; opacity: 0.7; }

    .toc { position: sticky; top: 0; z-index: 5; background: rgba(255, 255, 255, 0.96);
      border-bottom: 1px solid var(--line); box-shadow: 0 1px 3px rgba(20, 30, 50, 0.05); }
    .toc .wrap { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 4px; padding-top: 9px; padding-bottom: 9px; }
    .toc a { font-size: 13.5px; padding: 3px 10px; border-radius: 14px; color: var(--ink); }
    .toc a:hover { background: var(--accent-soft); color: var(--accent); text-decoration: none; }
    .toc a.toc-task { color: var(--accent); }
    .toc-sep { font-size: 12px; color: var(--faint); margin-left: 10px; text-transform: uppercase; letter-spacing: 0.08em; }

    main { padding-bottom: 40px; }
    section { scroll-margin-top: 60px; }
    main > section { padding: 30px 0 10px; border-bottom: 1px solid var(--line); }
    h2 { font-size: 23px; margin: 0 0 14px; font-weight: 650; letter-spacing: -0.01em; }
    h3 { font-size: 17px; margin: 26px 0 10px; font-weight: 620; }
    h4 { font-size: 14px; margin: 16px 0 8px; font-weight: 620; color: var(--muted); text-transform: uppercase; letter-spacing: 0.05em; }
    section.part { border-top: 1px dashed var(--line); margin-top: 18px; }
    section.part:first-of-type { border-top: 0; }
    p { margin: 8px 0; max-width: 900px; }
    .lead { color: var(--muted); }
    .muted { color: var(--faint); font-weight: 400; }
    .note { color: var(--muted); font-size: 13px; }
    .empty { color: var(--muted); background: var(--panel); border: 1px dashed #cfd6df; border-radius: 8px;
      padding: 14px 16px; max-width: none; }
    .tag { display: inline-block; font-size: 11px; padding: 0 6px; border-radius: 8px; background: var(--accent-soft); color: var(--accent); }

    .cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 12px; margin: 6px 0 10px; }
    .card { border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; background: #ffffff;
      box-shadow: 0 1px 2px rgba(20, 30, 50, 0.04); }
    .card-label { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: 0.06em; }
    .card-value { font-size: 25px; font-weight: 650; margin: 2px 0; }
    .card-note { font-size: 12px; color: var(--faint); }

    .table-wrap { overflow-x: auto; margin: 10px 0 14px; }
    table { border-collapse: collapse; font-size: 13.5px; min-width: 50%; }
    th, td { padding: 6px 12px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
    th { font-weight: 600; color: var(--muted); background: var(--panel); border-bottom: 1px solid #d5dbe3; white-space: nowrap; }
    th[title] { text-decoration: underline dotted; cursor: help; }
    td.num, th.num { text-align: right; white-space: nowrap; }
    tbody tr:nth-child(even) td { background: #fbfcfd; }
    tbody tr:hover td { background: var(--accent-soft); }
    tr.total td { font-weight: 600; border-top: 2px solid #d5dbe3; }
    table.runs code { font-size: 11.5px; }
    td.name { white-space: nowrap; }
    td.source { font-size: 12px; color: var(--muted); }

    .badge { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: 12px; font-weight: 600; background: #eceff3; color: var(--muted); }
    .badge-ok { background: #e3f3e8; color: var(--ok); }
    .badge-partial, .badge-running { background: #fff2dc; color: var(--warn); }
    .badge-failed, .badge-error, .badge-interrupted { background: #fbe6e4; color: var(--bad); }

    .grid-2 { display: grid; grid-template-columns: repeat(auto-fill, minmax(430px, 1fr)); gap: 18px 26px; align-items: start; }
    .grid-chart-text { grid-template-columns: minmax(430px, 1.3fr) minmax(260px, 1fr); }
    figure { margin: 8px 0 12px; padding: 12px 12px 8px; border: 1px solid var(--line); border-radius: 10px; background: #ffffff; }
    figure.wide { max-width: 900px; }
    figcaption { font-size: 12.5px; color: var(--muted); margin-top: 6px; }
    .findings { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 4px 18px 10px; margin: 8px 0; }
    .findings ul { padding-left: 18px; margin: 6px 0; }
    .findings li { margin: 6px 0; }
    details { margin: 8px 0 12px; }
    summary { cursor: pointer; color: var(--accent); font-size: 13.5px; }
    .task > h2 .muted { font-size: 15px; text-transform: uppercase; letter-spacing: 0.08em; margin-right: 6px; }

    svg.chart { display: block; max-width: 100%; height: auto; font-family: inherit; }
    svg.chart .grid { stroke: #e8ecf1; stroke-width: 1; }
    svg.chart .axis { stroke: #9aa4b1; stroke-width: 1; }
    svg.chart .tick { font-size: 12px; fill: #5f6b7a; }
    svg.chart .tick-small { font-size: 10px; fill: #5f6b7a; }
    svg.chart .axis-label { font-size: 12px; fill: #3d4757; font-weight: 600; }
    svg.chart .legend { font-size: 12px; fill: #1d2433; }
    svg.chart .legend-line { stroke-width: 2.5; }
    svg.chart .value { font-size: 11px; fill: #1d2433; font-weight: 600; }
    svg.chart .value-small { font-size: 10.5px; fill: #3d4757; }
    svg.chart .series { fill: none; stroke-width: 2.2; stroke-linejoin: round; stroke-linecap: round; }
    svg.chart .marker { stroke: #8a94a3; stroke-width: 1; stroke-dasharray: 3 3; }
    svg.chart .marker-label { font-size: 11px; fill: #5f6b7a; }
    svg.chart .diagonal { stroke: #666666; stroke-width: 1.5; stroke-dasharray: 5 4; }
    svg.chart .confidence { stroke: #C0392B; stroke-width: 2; }
    svg.chart .frame { fill: none; stroke: #9aa4b1; stroke-width: 1; }
    svg.chart .annotation { font-size: 13px; font-weight: 650; fill: #1d2433; }
    svg.chart .cell-light { font-size: 12px; fill: #1d2433; }
    svg.chart .cell-dark { font-size: 12px; fill: #ffffff; font-weight: 600; }
    svg.chart .cell-small { font-size: 9.5px; }
    svg.chart rect:hover { opacity: 0.85; }

    footer { color: var(--faint); font-size: 12.5px; padding: 24px 0; }

    @media (max-width: 720px) {
      .wrap { padding: 0 14px; }
      .grid-2, .grid-chart-text { grid-template-columns: 1fr; }
    }
    @media print {
      .toc { position: static; box-shadow: none; }
      .page-header { background: #1d3557; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
      figure, table, .cards { break-inside: avoid; }
      main > section { break-before: auto; }
    }

    """
}
