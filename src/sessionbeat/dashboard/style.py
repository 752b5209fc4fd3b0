"""The page's styles: cards, chips, the context bar, the fields table (one ``<style>`` block).

Colours are inherited from the active Streamlit theme (light or dark), so nothing here names a
text or background colour; status colours are set per card (:data:`~.view.COLOURS`).
"""

CSS = """
<style>
.sb-card{border:1px solid rgba(128,128,128,.35);border-left:6px solid;border-radius:8px;
 padding:8px 10px;margin:0 0 8px 0;overflow-wrap:anywhere;word-break:break-word;max-width:100%}
.sb-head{display:flex;flex-wrap:wrap;gap:6px;align-items:center}
.sb-badge{border:1px solid;border-radius:10px;padding:0 6px;font-size:.8rem;white-space:nowrap}
.sb-wait{font-size:.8rem;font-weight:600}
.sb-mates{font-size:.78rem;border:1px dashed;border-radius:10px;padding:0 6px;white-space:nowrap}
.sb-doing{margin:4px 0;font-size:.95rem}
.sb-small{font-size:.78rem;opacity:.75}
.sb-ctx{display:inline-block;width:60%;height:6px;border-radius:3px;margin-right:6px;
 background:rgba(128,128,128,.25);vertical-align:middle}
.sb-ctx>div{height:6px;border-radius:3px}
.sb-chip{display:inline-block;border:1px solid;border-radius:14px;padding:2px 8px;
 margin:0 6px 6px 0;
 font-size:.85rem;max-width:100%;overflow-wrap:anywhere}
.sb-title{font-size:1.25rem;font-weight:700;overflow-wrap:anywhere}
.sb-note{font-size:.85rem;opacity:.75;overflow-wrap:anywhere;margin:0 0 12px 0}
.sb-fields{width:100%;table-layout:fixed;font-size:.8rem;border-collapse:collapse}
.sb-fields th{width:38%;text-align:left;font-weight:600;vertical-align:top;padding:2px 6px 2px 0}
.sb-fields td{overflow-wrap:anywhere;word-break:break-word;padding:2px 0}
.block-container{padding-top:1rem !important;padding-left:.75rem;padding-right:.75rem}
header[data-testid="stHeader"]{height:0;min-height:0}
</style>
"""
"""Styles of the cards and chips (they inherit text colours from the active theme)."""
