/* splunk-autodoc documentation site: sortable and filterable tables, and the search box.
   A classic script (browsers refuse module scripts and fetch() from file://); the pages
   work without it, search aside. */
(function () {
  "use strict";

  function cellValue(row, column) {
    var cell = row.cells[column];
    if (!cell) { return ""; }
    var key = cell.getAttribute("data-sort");
    return key !== null ? key : cell.textContent.trim();
  }

  function compare(a, b) {
    var x = Number(a), y = Number(b);
    if (a !== "" && b !== "" && !isNaN(x) && !isNaN(y)) { return x - y; }
    return a.localeCompare(b, undefined, { numeric: true, sensitivity: "base" });
  }

  function makeSortable(table) {
    var heads = table.tHead ? table.tHead.rows[0].cells : [];
    Array.prototype.forEach.call(heads, function (th, column) {
      th.setAttribute("tabindex", "0");
      th.setAttribute("title", "sort by this column");
      function sort() {
        var body = table.tBodies[0];
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var rows = Array.prototype.slice.call(body.rows);
        var keyed = rows.map(function (row, i) { return [cellValue(row, column), i, row]; });
        keyed.sort(function (p, q) {
          var c = compare(p[0], q[0]);
          return (ascending ? c : -c) || p[1] - q[1];
        });
        var fragment = document.createDocumentFragment();
        keyed.forEach(function (k) { fragment.appendChild(k[2]); });
        body.appendChild(fragment);
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter") { sort(); } });
    });
  }

  function makeFilterable(table, first) {
    var input = document.createElement("input");
    input.type = "search";
    input.className = "filter";
    input.placeholder = "filter these " + table.tBodies[0].rows.length + " rows";
    input.setAttribute("aria-label", "filter the table");
    table.parentNode.insertBefore(input, table);
    input.addEventListener("input", function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        var text = row.textContent.toLowerCase();
        row.hidden = !words.every(function (w) { return text.indexOf(w) !== -1; });
      });
    });
    // A link to page.html#filter=WORDS opens the page's first table filtered (the overview's
    // data-flow picture links a group of hosts so).
    function fromHash() {
      var hash = window.location.hash;
      if (hash.indexOf("#filter=") !== 0) { return; }
      try {
        input.value = decodeURIComponent(hash.slice("#filter=".length));
      } catch (e) {
        return;  // a malformed %-escape: no filter
      }
      input.dispatchEvent(new Event("input"));
    }
    if (first) {
      fromHash();
      window.addEventListener("hashchange", fromHash);
    }
  }

  // -- search -----------------------------------------------------------------------------
  var root = document.body.getAttribute("data-root") || "";
  var loading = false;

  function loadIndex(then) {
    if (window.AUTODOC_SEARCH) { then(); return; }
    if (loading) { return; }
    loading = true;
    var script = document.createElement("script");
    script.src = root + "search-index.js";
    script.onload = then;
    document.head.appendChild(script);
  }

  function matches(query) {
    var q = query.trim().toLowerCase();
    if (!q || !window.AUTODOC_SEARCH) { return []; }
    var prefix = [], inside = [];
    window.AUTODOC_SEARCH.forEach(function (entry) {
      var name = entry.name.toLowerCase();
      if (name.indexOf(q) === 0) { prefix.push(entry); }
      else if (inside.length < 50 && name.indexOf(q) !== -1) { inside.push(entry); }
    });
    return prefix.concat(inside).slice(0, 30);
  }

  function setupSearch() {
    var input = document.getElementById("search");
    var list = document.getElementById("search-results");
    if (!input || !list) { return; }
    var form = input.form;

    function show() {
      var found = matches(input.value);
      list.textContent = "";
      found.forEach(function (entry, i) {
        var li = document.createElement("li");
        var a = document.createElement("a");
        a.href = root + entry.url;
        a.textContent = entry.name;
        if (i === 0) { a.className = "active"; }
        var kind = document.createElement("span");
        kind.className = "kind";
        kind.textContent = entry.kind;
        a.appendChild(kind);
        li.appendChild(a);
        list.appendChild(li);
      });
      list.hidden = found.length === 0;
    }

    input.addEventListener("focus", function () { loadIndex(show); });
    input.addEventListener("input", function () { loadIndex(show); });
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      loadIndex(function () {
        var found = matches(input.value);
        if (found.length) { window.location.href = root + found[0].url; }
      });
    });
    document.addEventListener("click", function (e) {
      if (!form.contains(e.target)) { list.hidden = true; }
    });
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), makeSortable);
    Array.prototype.forEach.call(document.querySelectorAll("table.filterable"), function (t, i) {
      makeFilterable(t, i === 0);
    });
    setupSearch();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
