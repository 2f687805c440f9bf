// pymdownx.arithmatex (generic) wraps formulas in \( \) and \[ \] inside span/div.arithmatex;
// MathJax 2 typesets only those, and again after each instant-navigation page load.
window.MathJax = {
  tex2jax: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]],
            processEscapes: true, processEnvironments: false, ignoreClass: ".*",
            processClass: "arithmatex"},
  // the bundled MathJax (jupyter-server-mathjax) carries the STIX-Web fonts only
  "HTML-CSS": {availableFonts: ["STIX-Web"], preferredFont: "STIX-Web", webFont: "STIX-Web",
               imageFont: null},
  showMathMenu: false
};
