/* Like A1111 1.10's javascript/ui.js (gradio 3.41), as far as a "Send to" button needs it: the
 * gallery item the user picked (the first when none is). The host loads it as a page script. */
window.selected_gallery_index = function () {
  var buttons = Array.from(document.querySelectorAll("#txt2img_gallery .thumbnail-item"));
  return buttons.findIndex(function (button) { return button.classList.contains("selected"); });
};

window.extract_image_from_gallery = function (gallery) {
  if (gallery.length === 0) {
    return [null];
  }
  var index = window.selected_gallery_index();
  return [gallery[index >= 0 && index < gallery.length ? index : 0]];
};
