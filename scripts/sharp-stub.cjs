// transformers.js imports sharp at load time for image pipelines, which Refusal Lens never uses.
// The stub must be truthy or transformers.js refuses to load ("Unable to load image processing library").
module.exports = function sharp() {
  throw new Error('image processing is not available in Refusal Lens');
};
