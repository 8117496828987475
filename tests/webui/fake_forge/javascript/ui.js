/* Like Forge's javascript/ui.js (gradio 4), as far as a "Send to" button needs it. Forge wraps the
 * picked item in one more list than A1111 does: the click's one input is the gallery, and gradio
 * 4's Gallery takes a list of items, so the page hands it [[item]] ([null] when empty). */
window.selected_gallery_index = function () {
  var buttons = Array.from(document.querySelectorAll("#txt2img_gallery .thumbnail-item"));
  return buttons.findIndex(function (button) { return button.classList.contains("selected"); });
};

window.extract_image_from_gallery = function (gallery) {
  if (gallery.length === 0) {
    return [null];
  }
  var index = window.selected_gallery_index();
  return [[gallery[index >= 0 && index < gallery.length ? index : 0]]];
};
