#include "explain/report.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>

#include "core/file.hpp"
#include "vitvk/error.hpp"

namespace vitvk {
namespace {

// The page: inline CSS and JS, data and config as inline JSON. @TITLE@ (HTML-escaped), @CONFIG@ and @DATA@
// (JSON with '<' escaped, so no "</script>" can end the element early) are filled in by finish().
constexpr const char* kPageHead = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@TITLE@</title>
<style>
:root{--bg:#0e1014;--panel:#161921;--card:#1b1f28;--card2:#20252f;--line:#2a303c;--fg:#e7e9ee;--muted:#97a0b0;
  --accent:#8fb0ff;--bar:#4f7df0;--err:#ff8585}
*{box-sizing:border-box}
[hidden]{display:none !important}
html,body{margin:0;background:var(--bg);color:var(--fg);font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
header{position:sticky;top:0;z-index:5;background:rgba(14,16,20,.94);backdrop-filter:blur(6px);
  border-bottom:1px solid var(--line);padding:10px 20px;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:center}
header h1{font-size:17px;margin:0;font-weight:650;letter-spacing:.2px}
.meta{color:var(--muted);font-size:12.5px;display:flex;flex-wrap:wrap;gap:2px 14px}
.meta b{color:var(--fg);font-weight:500}
.controls{display:flex;gap:16px;align-items:center;margin-left:auto;flex-wrap:wrap}
.controls label{display:flex;gap:7px;align-items:center;color:var(--muted);font-size:13px}
.legend{display:flex;align-items:center;gap:6px;color:var(--muted);font-size:11.5px}
.legend i{display:block;width:90px;height:9px;border-radius:5px;background:@GRADIENT@}
input[type=search]{background:var(--panel);color:var(--fg);border:1px solid var(--line);border-radius:7px;padding:5px 9px;width:210px}
input[type=range]{accent-color:var(--accent);cursor:pointer}
input[type=checkbox]{accent-color:var(--accent);cursor:pointer;width:15px;height:15px;margin:0}
main{padding:16px 20px 30px;max-width:1800px;margin:0 auto}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-radius:11px;overflow:hidden;display:flex;
  flex-direction:column;transition:border-color .15s}
.card:hover{border-color:#3b4456}
.frame{position:relative;aspect-ratio:4/3;background:#090a0d;cursor:zoom-in;overflow:hidden}
.frame img{position:absolute;inset:0;width:100%;height:100%;object-fit:contain;display:block}
.frame img.heat{pointer-events:none;transition:opacity .12s}
.selftest *{transition:none !important}
.body{padding:8px 11px 10px;display:flex;flex-direction:column;gap:6px;flex:1}
.name{font-size:12px;color:var(--muted);white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.top{list-style:none;margin:0;padding:0;display:flex;flex-direction:column;gap:2px}
.top li{position:relative;display:flex;justify-content:space-between;gap:8px;font-size:12.5px;padding:1px 6px;
  border-radius:4px;overflow:hidden;color:#c9cfda}
.top li:first-child{color:var(--fg);font-weight:600}
.top li .bar{position:absolute;left:0;top:0;bottom:0;background:var(--bar);opacity:.32}
.top li:first-child .bar{opacity:.55}
.top li span{position:relative;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
.top li .p{flex:none;font-variant-numeric:tabular-nums}
.tools{display:flex;align-items:center;gap:8px;margin-top:auto;padding-top:4px;color:var(--muted);font-size:12px}
.tools input[type=range]{flex:1;min-width:0}
.tools .val{width:32px;text-align:right;font-variant-numeric:tabular-nums}
.noheat{font-size:11.5px;color:var(--muted);font-style:italic}
.pager{display:flex;gap:10px;align-items:center;justify-content:center;margin:16px 0;color:var(--muted)}
button{background:#252b37;color:var(--fg);border:1px solid var(--line);border-radius:7px;padding:5px 12px;cursor:pointer;font:inherit}
button:hover:not(:disabled){background:#2e3544}
button:disabled{opacity:.4;cursor:default}
.errors{background:#24161a;border:1px solid #5b2a31;border-radius:11px;padding:8px 14px;margin-bottom:16px}
.errors summary{cursor:pointer;color:var(--err);font-weight:600}
.errors ul{margin:8px 0 4px;padding-left:18px;max-height:240px;overflow:auto}
.errors li{margin:2px 0;font-size:12.5px}
.errors li b{font-weight:600;color:var(--fg)}
.errors li span{color:#e0b4b4}
.empty{color:var(--muted);text-align:center;padding:40px}
#lightbox{position:fixed;inset:0;z-index:20;background:rgba(6,7,10,.96);display:none;grid-template-columns:minmax(0,1fr) 320px}
#lightbox.open{display:grid}
.lb-stage{position:relative;margin:22px;cursor:zoom-out}
.lb-stage img{position:absolute;inset:0;width:100%;height:100%;object-fit:contain}
.lb-stage img.heat{pointer-events:none}
.lb-side{background:var(--panel);border-left:1px solid var(--line);padding:18px;display:flex;flex-direction:column;gap:12px;overflow:auto}
.lb-side h2{font-size:14px;margin:0;word-break:break-all;font-weight:600}
.lb-side .top li{font-size:13.5px;padding:3px 8px}
.lb-side .tools{font-size:13px;margin-top:0}
.lb-nav{display:flex;gap:8px}
.lb-nav button{flex:1}
.hint{color:var(--muted);font-size:11.5px}
@media (max-width:760px){#lightbox.open{grid-template-columns:1fr;grid-template-rows:1fr auto}.lb-side{border-left:0}}
</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <div class="meta" id="meta"></div>
  <div class="controls">
    <label><input type="search" id="filter" placeholder="Filter by name or label"></label>
    <label><input type="checkbox" id="all-toggle" checked> overlays</label>
    <label>opacity <input type="range" id="all-opacity" min="0" max="1" step="0.05"></label>
    <span class="legend">low <i></i> high</span>
  </div>
</header>
<main>
  <details class="errors" id="errors" hidden><summary></summary><ul></ul></details>
  <nav class="pager" id="pager-top"></nav>
  <div class="grid" id="grid"></div>
  <nav class="pager" id="pager-bottom"></nav>
</main>
<div id="lightbox" role="dialog" aria-modal="true">
  <div class="lb-stage" id="lb-stage"><img class="photo" alt=""><img class="heat" alt=""></div>
  <aside class="lb-side">
    <h2 id="lb-name"></h2>
    <ol class="top" id="lb-top"></ol>
    <div class="tools" id="lb-tools"><input type="checkbox" class="toggle" title="overlay on/off"> overlay
      <input type="range" class="opacity" min="0" max="1" step="0.05"><span class="val"></span></div>
    <div class="lb-nav"><button id="lb-prev">&larr; prev</button><button id="lb-close">close</button><button id="lb-next">next &rarr;</button></div>
    <div class="hint">Keys: &larr; &rarr; browse, O toggles the overlay, Esc closes.</div>
  </aside>
</div>
<pre id="selftest-result" hidden></pre>
<script type="application/json" id="report-config">@CONFIG@</script>
<script type="application/json" id="report-data">@DATA@</script>
)HTML";

constexpr const char* kPageScript = R"JS(<script>
"use strict";
const cfg = JSON.parse(document.getElementById("report-config").textContent);
const all = JSON.parse(document.getElementById("report-data").textContent);
const items = all.filter(e => !e.error), failed = all.filter(e => e.error);
const $ = id => document.getElementById(id);
const state = {page: 0, list: items, on: true, opacity: cfg.opacity, eager: false, per: new Map(), lb: -1};
const src = (e, kind) => "img/" + e.id + {thumb: "_t", thumbHeat: "_th", view: "", viewHeat: "_h"}[kind] + ".jpg";
const pct = p => p < 0.001 ? "<0.1%" : (p * 100).toFixed(p >= 0.995 ? 0 : 1) + "%";
const el = (tag, cls, text) => { const n = document.createElement(tag); if (cls) n.className = cls; if (text != null) n.textContent = text; return n; };
const look = e => state.per.get(e.id) || {on: state.on, opacity: state.opacity};

function applyLook(heat, toggle, range, val, lk) {
  heat.style.opacity = lk.on ? lk.opacity : 0;
  heat.style.visibility = lk.on ? "visible" : "hidden";
  toggle.checked = lk.on; range.value = lk.opacity; range.disabled = !lk.on;
  val.textContent = Math.round(lk.opacity * 100) + "%";
}

function topList(list, e) {
  list.replaceChildren();
  for (const [label, index, p] of e.top) {
    const li = el("li"); li.title = label + " (class " + index + "): " + pct(p);
    const bar = el("i", "bar"); bar.style.width = (p * 100).toFixed(1) + "%";
    li.append(bar, el("span", "", label), el("span", "p", pct(p)));
    list.append(li);
  }
}

function card(e, idx) {
  const c = el("article", "card" + (e.heat ? " has-heat" : "")); c.dataset.id = e.id;
  const f = el("div", "frame"); f.title = e.name;
  const photo = el("img", "photo"); photo.alt = e.name;
  photo.loading = state.eager ? "eager" : "lazy"; photo.decoding = "async"; photo.src = src(e, "thumb");
  f.append(photo);
  const body = el("div", "body");
  body.append(el("div", "name", e.name));
  const ol = el("ol", "top"); topList(ol, e); body.append(ol);
  if (e.heat) {
    const heat = el("img", "heat"); heat.alt = "";
    heat.loading = photo.loading; heat.decoding = "async"; heat.src = src(e, "thumbHeat");
    f.append(heat);
    const tools = el("div", "tools");
    const toggle = el("input", "toggle"); toggle.type = "checkbox"; toggle.title = "overlay on/off";
    const range = el("input", "opacity"); range.type = "range"; range.min = 0; range.max = 1; range.step = 0.05;
    const val = el("span", "val");
    tools.append(toggle, el("span", "", "overlay"), range, val);
    body.append(tools);
    const update = lk => { state.per.set(e.id, lk); applyLook(heat, toggle, range, val, lk); };
    toggle.addEventListener("change", () => update({...look(e), on: toggle.checked}));
    range.addEventListener("input", () => update({...look(e), opacity: +range.value}));
    applyLook(heat, toggle, range, val, look(e));
  } else body.append(el("div", "noheat", "no attention map"));
  f.addEventListener("click", () => openLightbox(idx));
  c.append(f, body);
  return c;
}

function pages() { return Math.max(1, Math.ceil(state.list.length / cfg.pageSize)); }

function pager(nav) {
  nav.replaceChildren();
  if (pages() < 2) return;
  const prev = el("button", "", "\u2190 prev"), next = el("button", "", "next \u2192");
  prev.disabled = state.page === 0; next.disabled = state.page >= pages() - 1;
  prev.onclick = () => showPage(state.page - 1); next.onclick = () => showPage(state.page + 1);
  const sel = el("select"); sel.setAttribute("aria-label", "page");
  for (let p = 0; p < pages(); p++) { const o = el("option", "", String(p + 1)); o.value = p; sel.append(o); }
  sel.value = state.page; sel.onchange = () => showPage(+sel.value);
  const lab = el("span"); lab.append("page ", sel, " of " + pages());
  nav.append(prev, lab, next);
}

function showPage(p) {
  state.page = Math.min(Math.max(0, p), pages() - 1);
  const grid = $("grid"), from = state.page * cfg.pageSize;
  grid.replaceChildren(...state.list.slice(from, from + cfg.pageSize).map((e, i) => card(e, from + i)));
  if (!state.list.length) grid.append(el("div", "empty", items.length ? "Nothing matches the filter." : "No images."));
  pager($("pager-top")); pager($("pager-bottom"));
}

function openLightbox(i) {
  if (i < 0 || i >= state.list.length) return;
  state.lb = i;
  const e = state.list[i], lb = $("lightbox"), stage = $("lb-stage");
  const [photo, heat] = stage.querySelectorAll("img");
  photo.src = src(e, "view"); photo.alt = e.name;
  heat.hidden = !e.heat; if (e.heat) heat.src = src(e, "viewHeat"); else heat.removeAttribute("src");
  $("lb-name").textContent = e.name;
  topList($("lb-top"), e);
  const tools = $("lb-tools"); tools.hidden = !e.heat;
  if (e.heat) applyLook(heat, tools.querySelector(".toggle"), tools.querySelector(".opacity"), tools.querySelector(".val"), look(e));
  $("lb-prev").disabled = i === 0; $("lb-next").disabled = i >= state.list.length - 1;
  lb.classList.add("open");
}
function closeLightbox() { $("lightbox").classList.remove("open"); state.lb = -1; showPage(state.page); }
function lbUpdate(change) {
  const e = state.list[state.lb]; if (!e || !e.heat) return;
  const lk = {...look(e), ...change}; state.per.set(e.id, lk);
  const tools = $("lb-tools");
  applyLook($("lb-stage").querySelector(".heat"), tools.querySelector(".toggle"), tools.querySelector(".opacity"), tools.querySelector(".val"), lk);
}

function init() {
  document.title = cfg.title; $("title").textContent = cfg.title;
  const meta = $("meta");
  const facts = [...cfg.info, ["images", String(items.length)]];
  if (failed.length) facts.push(["errors", String(failed.length)]);
  for (const [k, v] of facts) { const s = el("span", "", k + " "); s.append(el("b", "", v)); meta.append(s); }
  if (failed.length) {
    const box = $("errors"); box.hidden = false;
    box.querySelector("summary").textContent = failed.length + (failed.length === 1 ? " input" : " inputs") + " could not be classified";
    const ul = box.querySelector("ul");
    for (const e of failed) { const li = el("li"); li.append(el("b", "", e.name), ": ", el("span", "", e.error)); ul.append(li); }
    box.open = failed.length <= 20;
  }
  const allToggle = $("all-toggle"), allOpacity = $("all-opacity");
  allOpacity.value = state.opacity;
  allToggle.onchange = () => { state.on = allToggle.checked; state.per.clear(); showPage(state.page); };
  allOpacity.oninput = () => { state.opacity = +allOpacity.value; state.per.clear(); showPage(state.page); };
  let timer = 0;
  $("filter").oninput = ev => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const q = ev.target.value.trim().toLowerCase();
      state.list = !q ? items : items.filter(e => e.name.toLowerCase().includes(q) || e.top.some(t => t[0].toLowerCase().includes(q)));
      showPage(0);
    }, 120);
  };
  const tools = $("lb-tools");
  tools.querySelector(".toggle").onchange = ev => lbUpdate({on: ev.target.checked});
  tools.querySelector(".opacity").oninput = ev => lbUpdate({opacity: +ev.target.value});
  $("lb-prev").onclick = () => openLightbox(state.lb - 1);
  $("lb-next").onclick = () => openLightbox(state.lb + 1);
  $("lb-close").onclick = closeLightbox;
  $("lb-stage").onclick = closeLightbox;
  document.addEventListener("keydown", ev => {
    if (state.lb < 0) return;
    if (ev.key === "Escape") closeLightbox();
    else if (ev.key === "ArrowLeft") openLightbox(state.lb - 1);
    else if (ev.key === "ArrowRight") openLightbox(state.lb + 1);
    else if (ev.key === "o" || ev.key === "O") lbUpdate({on: !look(state.list[state.lb]).on});
  });
  showPage(0);
}

// ---- #selftest: verifies the page in a headless browser; verdict in document.title and #selftest-result.
const loaded = img => img.complete && img.naturalWidth > 0;
const settle = img => img.complete ? Promise.resolve() : new Promise(r => { img.addEventListener("load", r, {once: true}); img.addEventListener("error", r, {once: true}); });
// What the viewer sees on top in a frame: the heat layer when it is visible, else the photo.
function shown(frame) {
  const heat = frame.querySelector("img.heat"), photo = frame.querySelector("img.photo");
  if (heat && !heat.hidden) { const cs = getComputedStyle(heat); if (cs.visibility !== "hidden" && +cs.opacity > 0) return heat.currentSrc + "@" + (+cs.opacity).toFixed(2); }
  return photo.currentSrc;
}
async function selftest() {
  const fails = [], stats = {initMs: +initMs.toFixed(1), pages: pages(), cards: 0, images: 0, errorsListed: 0, toggle: "", slider: "", lightbox: ""};
  state.eager = true;
  document.body.classList.add("selftest");  // computed styles must not lag behind a transition
  for (let p = 0; p < pages(); p++) {
    showPage(p);
    const cards = [...$("grid").querySelectorAll(".card")], imgs = [...$("grid").querySelectorAll("img")];
    stats.cards += cards.length;
    await Promise.all(imgs.map(settle));
    for (const im of imgs) { stats.images++; if (!loaded(im)) fails.push("image not loaded: " + im.getAttribute("src")); }
    for (const c of cards) if (c.classList.contains("has-heat") && c.querySelectorAll("img").length !== 2) fails.push("card without heat layer: " + c.dataset.id);
  }
  if (stats.cards !== items.length) fails.push("cards rendered " + stats.cards + " != images " + items.length);
  stats.errorsListed = $("errors").querySelectorAll("li").length;
  if (stats.errorsListed !== failed.length) fails.push("errors listed " + stats.errorsListed + " != " + failed.length);
  showPage(0);
  const c = $("grid").querySelector(".card.has-heat");
  if (!c) fails.push("no card with an overlay");
  else {
    await Promise.all([...c.querySelectorAll("img")].map(settle));
    const frame = c.querySelector(".frame"), toggle = c.querySelector("input.toggle"), range = c.querySelector("input.opacity");
    const before = shown(frame); toggle.click(); const off = shown(frame); toggle.click(); const again = shown(frame);
    stats.toggle = [before, off, again].map(s => s.replace(/^.*\//, "")).join(" -> ");
    if (before === off) fails.push("toggle did not change the shown image (" + before + ")");
    if (again !== before) fails.push("toggling back did not restore the overlay");
    if (!before.includes("_th.jpg") || !off.endsWith("_t.jpg")) fails.push("unexpected layers: " + stats.toggle);
    range.value = 0.85; range.dispatchEvent(new Event("input"));
    const op = +getComputedStyle(c.querySelector("img.heat")).opacity;
    stats.slider = op.toFixed(2);
    if (Math.abs(op - 0.85) > 1e-3) fails.push("slider did not set the overlay opacity (" + op + ")");
    frame.click();
    const lb = $("lightbox"), lbImgs = [...$("lb-stage").querySelectorAll("img")].filter(i => !i.hidden);
    await Promise.all(lbImgs.map(settle));
    stats.lightbox = lb.classList.contains("open") + " " + lbImgs.map(i => i.naturalWidth + "x" + i.naturalHeight).join(",");
    if (!lb.classList.contains("open")) fails.push("the large view did not open");
    for (const im of lbImgs) if (!loaded(im)) fails.push("large image not loaded: " + im.getAttribute("src"));
    if (lbImgs.length && lbImgs[0].naturalWidth < frame.querySelector("img.photo").naturalWidth)
      fails.push("the large view is smaller than the thumbnail");
    if (shown($("lb-stage")) !== lbImgs[lbImgs.length - 1].currentSrc + "@0.85") fails.push("large view does not keep the card's overlay opacity: " + shown($("lb-stage")));
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape"}));
    if (lb.classList.contains("open")) fails.push("Escape did not close the large view");
  }
  const verdict = (fails.length ? "FAIL" : "PASS") + " cards=" + stats.cards + " images=" + stats.images + " errors=" + stats.errorsListed + " pages=" + stats.pages + " init_ms=" + stats.initMs;
  const out = $("selftest-result"); out.hidden = false;
  out.textContent = JSON.stringify({verdict, stats, fails}, null, 1);
  document.title = "vitvk-selftest: " + verdict + (fails.length ? " | " + fails.join(" | ") : "");
}

const t0 = performance.now();
init();
const initMs = performance.now() - t0;  // parse the data + render the first page (reported by the self-test)
// Deep links: #page=N (1-based) and #view=N (1-based position in the list) open a page or the large view.
const deep = /^#(page|view)=(\d+)$/.exec(location.hash);
if (deep && deep[1] === "page") showPage(+deep[2] - 1);
if (deep && deep[1] === "view") { showPage(Math.floor((+deep[2] - 1) / cfg.pageSize)); openLightbox(+deep[2] - 1); }
if (location.hash === "#selftest") selftest().catch(err => { document.title = "vitvk-selftest: FAIL exception " + err; });
</script>
</body>
</html>
)JS";

std::string html_escape(const std::string& s) {
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// JSON for inside <script>: invalid UTF-8 (odd file names) replaced, '<' escaped so "</script" cannot occur.
std::string script_json(const nlohmann::json& j) {
  const std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string o;
  o.reserve(s.size());
  for (char c : s) {
    if (c == '<')
      o += "\\u003c";
    else
      o += c;
  }
  return o;
}

// Fills @NAME@ placeholders in one pass, so substituted (user) text is never scanned for placeholders.
std::string fill(const std::string& tpl, const std::vector<std::pair<std::string, std::string>>& values) {
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t a = tpl.find('@', pos);
    const std::size_t b = a == std::string::npos ? a : tpl.find('@', a + 1);
    if (b == std::string::npos) break;
    const std::string key = tpl.substr(a + 1, b - a - 1);
    const auto it = std::find_if(values.begin(), values.end(), [&](const auto& kv) { return kv.first == key; });
    if (it == values.end()) {  // a lone '@' in the template text
      out.append(tpl, pos, a + 1 - pos);
      pos = a + 1;
      continue;
    }
    out.append(tpl, pos, a - pos);
    out += it->second;
    pos = b + 1;
  }
  out.append(tpl, pos, std::string::npos);
  return out;
}

// CSS gradient of the colormap, for the legend.
std::string colormap_gradient(int colormap) {
  cv::Mat ramp(1, 9, CV_8U), rgb;
  for (int i = 0; i < 9; ++i) ramp.at<uint8_t>(0, i) = static_cast<uint8_t>(std::lround(i * 255.0 / 8));
  cv::applyColorMap(ramp, rgb, colormap);
  std::string g = "linear-gradient(90deg";
  for (int i = 0; i < 9; ++i) {
    const auto bgr = rgb.at<cv::Vec3b>(0, i);
    g += fmt::format(",#{:02x}{:02x}{:02x}", bgr[2], bgr[1], bgr[0]);
  }
  return g + ")";
}

cv::Mat fit(const cv::Mat& rgb, int longest) {
  const int side = std::max(rgb.cols, rgb.rows);
  if (side <= longest) return rgb;
  const double s = static_cast<double>(longest) / side;
  cv::Mat out;
  cv::resize(rgb, out, cv::Size(std::max(1, static_cast<int>(std::lround(rgb.cols * s))),
                                std::max(1, static_cast<int>(std::lround(rgb.rows * s)))),
             0, 0, cv::INTER_AREA);
  return out;
}

std::string colormap_name(int id) {
  for (const auto& n : colormap_names())
    if (parse_colormap(n) == id) return n;
  return std::to_string(id);
}

}  // namespace

ReportWriter::ReportWriter(std::filesystem::path dir, ReportOptions options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  if (options_.thumb_size < 16 || options_.view_size < options_.thumb_size || options_.page_size < 1)
    throw Error(ErrorCode::InvalidArgument, "report: thumb_size >= 16, view_size >= thumb_size and page_size >= 1 required");
  if (!(options_.overlay.opacity >= 0.f && options_.overlay.opacity <= 1.f))
    throw Error(ErrorCode::InvalidArgument, fmt::format("report: opacity {} is outside [0, 1]", options_.overlay.opacity));
  std::error_code ec;
  std::filesystem::create_directories(dir_ / "img", ec);
  if (ec) throw Error(ErrorCode::Io, (dir_ / "img").string() + ": cannot create directory: " + ec.message());
}

void ReportWriter::add(const std::string& name, const cv::Mat& photo_rgb8, std::span<const ReportPrediction> topk,
                       const RolloutMap* map, const CropGeometry* geometry) {
  if (photo_rgb8.empty() || photo_rgb8.type() != CV_8UC3)
    throw Error(ErrorCode::InvalidArgument, "report: " + name + ": the photo must be a non-empty 8-bit RGB image");
  if ((map == nullptr) != (geometry == nullptr))
    throw Error(ErrorCode::InvalidArgument, "report: " + name + ": a rollout map needs its crop geometry");
  std::size_t slot;
  Entry e;
  {
    const std::lock_guard lock(mutex_);
    slot = entries_.size();
    e.id = fmt::format("{:06d}", next_id_++);
    entries_.push_back({name, "", e.id, 0, 0, false, {}});  // reserve the position; filled below
  }
  e.name = name;
  e.width = photo_rgb8.cols;
  e.height = photo_rgb8.rows;
  e.topk.assign(topk.begin(), topk.end());
  e.heat = map != nullptr;
  try {
    const std::filesystem::path img = dir_ / "img";
    const cv::Mat view = fit(photo_rgb8, options_.view_size), thumb = fit(photo_rgb8, options_.thumb_size);
    write_image_atomic(img / (e.id + ".jpg"), view, options_.jpeg_quality);
    write_image_atomic(img / (e.id + "_t.jpg"), thumb, options_.jpeg_quality);
    if (map) {
      write_image_atomic(img / (e.id + "_h.jpg"), render_heat_layer(view, *map, *geometry, options_.overlay), options_.jpeg_quality);
      write_image_atomic(img / (e.id + "_th.jpg"), render_heat_layer(thumb, *map, *geometry, options_.overlay), options_.jpeg_quality);
    }
  } catch (const Error& err) {
    const std::lock_guard lock(mutex_);
    entries_[slot].error = std::string("could not write the report images: ") + err.what();
    ++errors_;
    throw;
  }
  const std::lock_guard lock(mutex_);
  entries_[slot] = std::move(e);
}

void ReportWriter::add_error(const std::string& name, const std::string& message) {
  const std::lock_guard lock(mutex_);
  entries_.push_back({name, message.empty() ? "unknown error" : message, fmt::format("{:06d}", next_id_++), 0, 0, false, {}});
  ++errors_;
}

std::filesystem::path ReportWriter::finish() {
  nlohmann::json data = nlohmann::json::array();
  {
    const std::lock_guard lock(mutex_);
    for (const Entry& e : entries_) {
      nlohmann::json j = {{"name", e.name}, {"id", e.id}};
      if (!e.error.empty()) {
        j["error"] = e.error;
      } else {
        j["w"] = e.width;
        j["h"] = e.height;
        j["heat"] = e.heat;
        nlohmann::json top = nlohmann::json::array();
        for (const auto& p : e.topk)
          top.push_back({p.label, p.index, std::isfinite(p.probability) ? std::round(p.probability * 1e5) / 1e5 : 0.0});
        j["top"] = std::move(top);
      }
      data.push_back(std::move(j));
    }
  }
  nlohmann::json info = nlohmann::json::array();
  for (const auto& [k, v] : options_.info) info.push_back({k, v});
  const nlohmann::json config = {{"title", options_.title},         {"info", info},
                                 {"opacity", options_.overlay.opacity}, {"pageSize", options_.page_size},
                                 {"thumbSize", options_.thumb_size},   {"viewSize", options_.view_size},
                                 {"colormap", colormap_name(options_.overlay.colormap)}};
  std::string page = fill(kPageHead, {{"GRADIENT", colormap_gradient(options_.overlay.colormap)},
                                       {"TITLE", html_escape(options_.title)},
                                       {"CONFIG", script_json(config)},
                                       {"DATA", script_json(data)}});
  page += kPageScript;
  const auto path = dir_ / "index.html";
  write_file_atomic(path, std::span(reinterpret_cast<const uint8_t*>(page.data()), page.size()));
  return path;
}

std::size_t ReportWriter::images() const {
  const std::lock_guard lock(mutex_);
  return entries_.size() - errors_;
}

std::size_t ReportWriter::errors() const {
  const std::lock_guard lock(mutex_);
  return errors_;
}

}  // namespace vitvk
