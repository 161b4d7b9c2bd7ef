// alexnet serve: the page. Plain JavaScript, no framework, no network beyond this server.
"use strict";

const state = { file: null, example: null, model: null, info: null, layer: null, map: null, generation: 0 };
const $ = (id) => document.getElementById(id);

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function call(path, params = {}, { image = true, expect = "json" } = {}) {
  const query = new URLSearchParams();
  if (state.model) query.set("model", state.model);
  if (image && state.example !== null) query.set("example", state.example);
  for (const [k, v] of Object.entries(params)) query.set(k, v);
  const options = { method: image ? "POST" : "GET" };
  if (image && state.file) {
    const form = new FormData();
    form.append("file", state.file, state.file.name || "pasted image");
    options.body = form;
  }
  const response = await fetch(`${path}?${query}`, options);
  if (!response.ok) {
    let detail = `${response.status} ${response.statusText}`;
    try { detail = (await response.json()).detail || detail; } catch (e) { /* not JSON */ }
    if (typeof detail !== "string") detail = JSON.stringify(detail);
    throw new Error(`${path}: ${detail}`);
  }
  return expect === "json" ? response.json() : response.blob();
}

function views() { return document.querySelector('input[name="views"]:checked').value; }
function hasImage() { return state.file !== null || state.example !== null; }

// -- the image --------------------------------------------------------------------------------------
function chooseFile(file) {
  if (!file) return;
  state.file = file; state.example = null;
  $("preview").src = URL.createObjectURL(file);
  $("preview").hidden = false;
  $("image-name").textContent = file.name || "pasted image";
  imageChanged();
}

function chooseExample(example) {
  state.file = null; state.example = example.id;
  $("preview").src = example.thumbnail;
  $("preview").hidden = false;
  $("image-name").textContent = `example: ${example.name}`;
  imageChanged();
}

function imageChanged() {
  state.generation += 1;
  showError("");
  $("map-panel").hidden = true;
  refreshPrediction();
  refreshInput();
  refreshNeighbours();
  refreshGradcam();
  resetOcclusion();
  if (state.layer) showMaps(state.layer);
}

function setUpInput() {
  $("file-input").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    chooseFile(e.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (e) => {
    const item = [...e.clipboardData.items].find((i) => i.type.startsWith("image/"));
    if (item) chooseFile(item.getAsFile());
  });
  $("occlusion-button").addEventListener("click", refreshOcclusion);
  document.querySelectorAll('input[name="views"]').forEach((r) => r.addEventListener("change", refreshPrediction));
}

// -- top-5 --------------------------------------------------------------------------------------------
async function refreshPrediction() {
  if (!hasImage()) return;
  const generation = state.generation;
  $("predict-status").textContent = "computing…";
  try {
    const answer = await call("/v1/predict", { topk: 5, views: views() });
    if (generation !== state.generation) return;
    renderTop(answer.results[0].top);
    $("predict-status").textContent = `${answer.views} view${answer.views > 1 ? "s" : ""}, model ${answer.model}`;
  } catch (e) {
    $("top5").replaceChildren();
    $("predict-status").textContent = "";
    showError(e.message);
  }
}

function renderTop(top) {
  $("top5").replaceChildren(...top.map((t) => {
    const li = document.createElement("li");
    li.dataset.class = t.class;
    li.dataset.probability = String(t.probability);
    li.innerHTML = `<div class="label"><span class="cls"></span><span class="prob"></span></div><div class="bar"></div>`;
    li.querySelector(".cls").textContent = t.class;
    li.querySelector(".prob").textContent = t.probability.toFixed(4);
    li.querySelector(".bar").style.width = `${(100 * t.probability).toFixed(1)}%`;
    return li;
  }));
}

async function refreshInput() {
  try {
    const blob = await call("/v1/input", {}, { expect: "blob" });
    $("net-input").src = URL.createObjectURL(blob);
    $("net-input").hidden = false;
  } catch (e) { /* the prediction reports the same error */ }
}

// -- neighbours ---------------------------------------------------------------------------------------
async function refreshNeighbours() {
  if (!state.info || !state.info.index) return;
  try {
    const answer = await call("/v1/neighbours", { k: 8 });
    $("neighbours-warning").hidden = !answer.warning;
    $("neighbours-warning").textContent = answer.warning || "";
    $("neighbours").replaceChildren(...answer.neighbours.map((n) =>
      figure(n.thumbnail, `${n.rank}. ${n.name}`, `d = ${n.distance.toFixed(3)}`)));
  } catch (e) { showError(e.message); }
}

function figure(src, title, caption) {
  const f = document.createElement("figure");
  const img = document.createElement("img");
  img.src = src; img.alt = title; img.title = title;
  const c = document.createElement("figcaption");
  c.textContent = caption ? `${title} · ${caption}` : title;
  f.append(img, c);
  return f;
}

// -- the network and its maps -----------------------------------------------------------------------
const SHOWN = /^(conv|maxpool|fc|LRN|adaptive)/;

async function loadNetwork() {
  const summary = await call("/v1/summary", {}, { image: false });
  $("net-title").textContent = `${summary.arch}, input ${summary.in_channels}×${summary.input_size}×${summary.input_size}, `
    + `${summary.totals.params.toLocaleString()} parameters`;
  let conv = 0, fc = 0;
  const boxes = summary.layers.filter((l) => SHOWN.test(l.op)).map((l) => {
    const box = document.createElement("div");
    box.className = "layer";
    const isConv = l.op.startsWith("conv");
    const rf = l.receptive_field === null ? "" : `<br>RF ${l.receptive_field}×${l.receptive_field}, jump ${l.jump}`;
    box.innerHTML = `<b></b>${l.output_shape.join("×")}${rf}<br><span class="muted"></span>`;
    // the paper's names (conv1..conv5, fc6..fc8) whatever the modules are called (torchvision: features.0, ...)
    const short = l.name.split(".").pop();
    const name = isConv ? `conv${conv + 1}` : l.op.startsWith("fc") ? `fc${6 + fc++}`
      : /^\d+$/.test(short) ? `${l.op.split(" ")[0]} (after conv${conv})` : short;
    box.querySelector("b").textContent = name;
    box.title = l.name;
    box.querySelector(".muted").textContent = l.op;
    if (isConv && conv < summary.conv_layers.length) {
      const layer = summary.conv_layers[conv++];
      box.classList.add("conv");
      box.dataset.layer = layer;
      box.title = `${l.name}: click for the ${layer} maps of this image`;
      box.addEventListener("click", () => showMaps(layer));
    } else if (l.op.startsWith("fc")) {
      box.classList.add("fc");
    }
    return box;
  });
  $("layers").replaceChildren(...boxes);
}

async function showMaps(layer) {
  state.layer = layer;
  document.querySelectorAll(".layer").forEach((b) => b.classList.toggle("selected", b.dataset.layer === layer));
  if (!hasImage()) { showError("choose an image first"); return; }
  const generation = state.generation;
  $("maps-panel").hidden = false;
  $("maps-title").textContent = `${layer}: computing…`;
  try {
    const answer = await call("/v1/maps", { layer });
    if (generation !== state.generation || state.layer !== layer) return;
    $("maps-title").textContent = `${layer}: ${answer.shape[0]} maps of ${answer.shape[1]}×${answer.shape[2]} (after ReLU)`;
    $("maps-note").textContent = `${answer.scale}. Click a map.`;
    $("maps").replaceChildren(...answer.maps.map((url, i) => {
      const img = document.createElement("img");
      img.src = url; img.className = "map pixelated"; img.dataset.index = i;
      img.title = `${layer} map ${i} (max ${answer.max[i].toFixed(3)})`;
      img.addEventListener("click", () => showMap(layer, i, url, answer.max[i]));
      return img;
    }));
  } catch (e) { $("maps-title").textContent = layer; showError(e.message); }
}

function showMap(layer, index, url, peak) {
  state.map = { layer, index };
  document.querySelectorAll("#maps img").forEach((im) => im.classList.toggle("selected", Number(im.dataset.index) === index));
  $("map-panel").hidden = false;
  $("map-title").textContent = `${layer}, map ${index} (largest activation ${peak.toFixed(3)})`;
  $("map-large").src = url;
  const generation = state.generation;
  for (const id of ["deconv", "deconv-box"]) $(id).removeAttribute("src");
  $("deconv-caption").textContent = "deconvnet projection: computing…";
  call("/v1/deconv", { layer, map: index }).then((answer) => {
    if (generation !== state.generation || !state.map || state.map.index !== index || state.map.layer !== layer) return;
    $("deconv").src = answer.projection;
    $("deconv-box").src = answer.input_with_box;
    $("deconv-caption").textContent = `deconvnet projection of unit (${answer.unit.y}, ${answer.unit.x}): ${answer.note}`;
    $("deconv-box-caption").textContent = `its receptive field: rows ${answer.box[0]}–${answer.box[2]}, columns ${answer.box[1]}–${answer.box[3]}`;
  }).catch((e) => { $("deconv-caption").textContent = "deconvnet projection"; showError(e.message); });
  showPatches(layer, index);
}

async function showPatches(layer, index) {
  $("patches-box").hidden = !(state.info && state.info.patches);
  if ($("patches-box").hidden) return;
  $("patches").replaceChildren();
  $("patches-source").textContent = "(computing: the first look at a layer reads every image once)";
  try {
    const answer = await call("/v1/patches", { layer, map: index }, { image: false });
    if (!state.map || state.map.index !== index || state.map.layer !== layer) return;
    $("patches-source").textContent = `(${answer.source}, ${answer.images} images)`;
    $("patches").replaceChildren(...answer.patches.map((p) =>
      figure(p.png, p.name, `a = ${p.activation.toFixed(2)}`)));
  } catch (e) { $("patches-source").textContent = ""; showError(e.message); }
}

// -- overlays and towers ---------------------------------------------------------------------------------
async function refreshGradcam() {
  const generation = state.generation;
  $("gradcam-caption").textContent = "Grad-CAM of conv5: computing…";
  try {
    const answer = await call("/v1/gradcam");
    if (generation !== state.generation) return;
    $("gradcam").src = answer.overlay; $("gradcam").hidden = false;
    $("gradcam-caption").textContent = `Grad-CAM of conv5 for “${answer.target_class}”: bright where the class's gradient-weighted maps are strongest`;
  } catch (e) { $("gradcam-caption").textContent = "Grad-CAM of conv5"; showError(e.message); }
}

function resetOcclusion() {
  $("occlusion").hidden = true;
  $("occlusion-button").disabled = !hasImage();
  $("occlusion-caption").textContent = "Occlusion: a grey square slides over the image; bright where hiding it lowers p(class) most.";
}

async function refreshOcclusion() {
  const generation = state.generation;
  $("occlusion-button").disabled = true;
  $("occlusion-caption").textContent = "Occlusion: computing (one forward pass per position of the square)…";
  try {
    const answer = await call("/v1/occlusion");
    if (generation !== state.generation) return;
    $("occlusion").src = answer.overlay; $("occlusion").hidden = false;
    $("occlusion-caption").textContent = `Occlusion for “${answer.target_class}” (p = ${answer.target_probability.toFixed(3)} `
      + `unoccluded, ${answer.min_probability.toFixed(3)} at worst; square ${answer.patch} px every ${answer.stride}): ${answer.note}`;
  } catch (e) { showError(e.message); }
  $("occlusion-button").disabled = false;
}

async function loadTowers() {
  try {
    const answer = await call("/v1/towers", {}, { image: false });
    const report = answer.report;
    const measure = report.per_tower ? report.per_tower.map((v, t) => `tower ${t + 1}: ${v.toFixed(3)}`).join(", ") : "";
    $("towers-note").textContent = [`${report.kernels_shape.join("×")} kernels, each on its own scale.`,
      measure && `Colour specificity (${report.measure}): ${measure}.`, report.message || ""].filter(Boolean).join(" ");
    $("towers").replaceChildren(...answer.towers.map((t) =>
      figure(t.png, `tower ${t.tower}: kernels ${t.kernels[0]}–${t.kernels[1]}`)));
    $("towers").querySelectorAll("img").forEach((im) => im.classList.add("pixelated", "sheet"));
  } catch (e) { showError(e.message); }
}

// -- start ----------------------------------------------------------------------------------------------
async function loadModel() {
  state.info = await call("/v1/model", {}, { image: false });
  $("neighbours-box").hidden = !state.info.index;
  if (state.info.index) $("index-name").textContent = `(${state.info.index.name}, ${state.info.index.size} images)`;
  await loadNetwork();
  loadTowers();
}

async function start() {
  setUpInput();
  try {
    const first = await call("/v1/model", {}, { image: false });
    state.model = first.default;
    $("model").replaceChildren(...first.models.map((id) => new Option(id, id)));
    $("model").addEventListener("change", async (e) => {
      state.model = e.target.value; state.layer = null;
      $("maps-panel").hidden = true;
      try { await loadModel(); if (hasImage()) imageChanged(); } catch (err) { showError(err.message); }
    });
    await loadModel();
    const examples = (await call("/v1/examples", {}, { image: false })).examples;
    $("examples-box").hidden = examples.length === 0;
    $("examples").replaceChildren(...examples.map((ex) => {
      const f = figure(ex.thumbnail, ex.name);
      f.querySelector("img").addEventListener("click", () => chooseExample(ex));
      return f;
    }));
  } catch (e) { showError(e.message); }
}

start();
