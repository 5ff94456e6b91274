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

const t0 = performance.now();
init();
const initMs = performance.now() - t0;  // parse the data + render the first page (reported by the self-test)
// Deep links: #page=N (1-based) and #view=N (1-based position in the list) open a page or the large view.
const deep = /^#(page|view)=(\d+)$/.exec(location.hash);
if (deep && deep[1] === "page") showPage(+deep[2] - 1);
if (deep && deep[1] === "view") { showPage(Math.floor((+deep[2] - 1) / cfg.pageSize)); openLightbox(+deep[2] - 1); }
