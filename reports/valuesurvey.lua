--[[
valuesurvey.lua: what the manuscript needs from both renderers, Quarto and pandoc + typst.

- The synthetic-data note. The manuscript's first cell prints a Div of class "synthetic-note"
  holding the note (and a visible callout). This filter removes the Div and stamps its text on
  every page: a banner at the top of the HTML page (above the title and the table of contents)
  and a footer on every PDF page (with the page number).
- typst: tables (and figures) may break across pages, so a long table does not run past the
  bottom of its page; a table's header row repeats on each page it spans.
- typst: Quarto writes a cross-reference as `#ref(<fig-x>, supplement: [Figure])`; a ";" that
  follows it would end that typst expression and vanish. The ";" is kept.

Quarto runs it after its own filters (`filters: [quarto, valuesurvey.lua]`); pandoc with
`--lua-filter valuesurvey.lua`.
]]

local is_quarto = type(quarto) == "table" and quarto.doc ~= nil

local function typst_output()
  return FORMAT:match("typst") ~= nil
end

local function html_output()
  return FORMAT:match("html") ~= nil
end

local function typst_string(text)
  local escaped = text:gsub("\\", "\\\\"):gsub('"', '\\"'):gsub("\n", " ")
  return '"' .. escaped .. '"'
end

local function html_escape(text)
  local escaped = text:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;"):gsub('"', "&quot;")
  return escaped
end

-- Rules every PDF gets: breakable tables with a repeating header (typst's default since 0.11 for
-- table.header, stated here so a change of default does not silently undo it).
local TYPST_RULES = table.concat({
  "#show figure: set block(breakable: true)",
  "#show figure.where(kind: table): set figure.caption(position: top)",
  '#show figure.where(kind: "quarto-float-tbl"): set figure.caption(position: top)',
  "#set table.header(repeat: true)",
}, "\n")

local function typst_footer(note)
  return '#set page(footer: [#set text(size: 7pt, fill: rgb("#D55E00"), weight: "bold"); #'
    .. typst_string(note)
    .. " #h(1fr) #context counter(page).display()])"
end

local function html_banner(note)
  return '<div class="synthetic-banner" role="note">' .. html_escape(note) .. "</div>"
end

-- Quarto collects includes itself; plain pandoc reads header-includes / include-before from
-- the metadata when no command-line include of the same kind replaces them.
local function add_include(meta, location, format, text)
  if is_quarto then
    quarto.doc.include_text(location, text)
    return
  end
  local key = location == "in-header" and "header-includes" or "include-before"
  local current = meta[key]
  local list = pandoc.List()
  if current ~= nil then
    if pandoc.utils.type(current) == "List" then
      list = current
    else
      list:insert(current)
    end
  end
  list:insert(pandoc.MetaBlocks({ pandoc.RawBlock(format, text) }))
  meta[key] = list
end

local function take_note(blocks)
  local note = nil
  local kept = pandoc.List()
  for _, block in ipairs(blocks) do
    if block.t == "Div" and block.classes:includes("synthetic-note") then
      note = note or pandoc.utils.stringify(block.content)
    else
      kept:insert(block)
    end
  end
  return note, kept
end

-- A ";" right after a typst expression that ends a cross-reference.
local function keep_semicolons(inlines)
  for i = 1, #inlines - 1 do
    local here, after = inlines[i], inlines[i + 1]
    if here.t == "RawInline" and here.format == "typst" and here.text:match("[%)%]]$")
      and after.t == "Str" and after.text:sub(1, 1) == ";" then
      here.text = here.text .. ";"
    end
  end
  return inlines
end

function Pandoc(doc)
  local note
  note, doc.blocks = take_note(doc.blocks)
  if typst_output() then
    add_include(doc.meta, "in-header", "typst", TYPST_RULES)
    if note ~= nil and note ~= "" then
      add_include(doc.meta, "in-header", "typst", typst_footer(note))
    end
    doc = doc:walk({ Inlines = keep_semicolons })
  elseif html_output() and note ~= nil and note ~= "" then
    add_include(doc.meta, "before-body", "html", html_banner(note))
  end
  return doc
end
