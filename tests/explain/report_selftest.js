// The report page's self-test, injected by tests/explain/test_report.cpp into a copy of index.html as a
// second <script> after the page's own (its top-level names are shared), run by headless chromium.
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

if (location.hash === "#selftest") selftest().catch(err => { document.title = "vitvk-selftest: FAIL exception " + err; });
