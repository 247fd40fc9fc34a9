// Upload page: show the chosen photo, send it to POST /predict, show the label.
"use strict";

const drop = document.getElementById("drop");
const picker = document.getElementById("picker");
const preview = document.getElementById("preview");
const hint = document.getElementById("hint");
const result = document.getElementById("result");

function show(text, state) {
  result.textContent = text;
  result.dataset.state = state;
}

// A file the browser cannot show (the service will say why) leaves the drop hint in place.
preview.addEventListener("error", () => {
  preview.hidden = true;
  hint.hidden = false;
});

async function classify(file) {
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(file);
  preview.hidden = false;
  hint.hidden = true;
  show("Looking…", "busy");
  const body = new FormData();
  body.append("file", file, file.name);
  try {
    const response = await fetch("/predict", { method: "POST", body });
    const answer = await response.json();
    if (!response.ok) {
      show(`Could not classify ${file.name}: ${answer.detail || response.statusText}`, "error");
      return;
    }
    const { label, probability } = answer.predictions[0];
    show(`${label} (${(100 * probability).toFixed(1)}% sure)`, "done");
    result.dataset.label = label;
    result.dataset.probability = probability;
  } catch (error) {
    show(`The service did not answer: ${error}`, "error");
  }
}

picker.addEventListener("change", () => {
  if (picker.files.length) classify(picker.files[0]);
});
drop.addEventListener("dragover", (event) => {
  event.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  if (event.dataTransfer.files.length) classify(event.dataTransfer.files[0]);
});
