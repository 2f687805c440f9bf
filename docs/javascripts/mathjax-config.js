// pymdownx.arithmatex (generic) wraps formulas in \( \) and \[ \] inside span/div.arithmatex;
// MathJax 2 typesets only those, and again after each instant-navigation page load.
window.MathJax = {
  tex2jax: {inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]],
            processEscapes: true, processEnvironments: false, ignoreClass: ".*",
            processClass: "arithmatex"},
  "HTML-CSS": {availableFonts: ["TeX"]},
  showMathMenu: false
};
