/* Draws the report's charts as SVG from the JSON in #report-data. No library, no network.
   Text from the data is only ever set with textContent or setAttribute, never parsed as HTML.
   Marks a test can count: rect.funnel-bar, rect.daily-bar, path.daily-line[data-points], rect.variant-bar. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var COLORS = ["var(--c0)", "var(--c1)", "var(--c2)", "var(--c3)", "var(--c4)"];
  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var labels = {};
  data.vendors.forEach(function (v) { labels[v.vendor] = v.label; });

  function svgEl(tag, attrs, parent, text) {
    var node = document.createElementNS(NS, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function htmlEl(tag, attrs, parent, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }
  function tip(node, text) { svgEl("title", {}, node, text); return node; }
  function num(v) { return v === null || v === undefined ? "n/a" : Math.round(v).toLocaleString("en-US"); }
  function pct(v) { return v === null || v === undefined ? "n/a" : (v * 100).toFixed(1) + "%"; }
  function clip(text, n) { return text.length > n ? text.slice(0, n - 1) + "\u2026" : text; }
  function wrap(text, width, most) {  /* words into at most `most` lines of about `width` characters */
    var lines = [];
    text.split(" ").forEach(function (word) {
      var last = lines.length - 1;
      if (last >= 0 && (lines[last] + " " + word).length <= width) lines[last] += " " + word;
      else lines.push(word);
    });
    var kept = lines.slice(0, most);
    if (lines.length > most) kept[most - 1] = clip(lines.slice(most - 1).join(" "), width);
    return kept.map(function (line) { return clip(line, width); });
  }
  function dayIndex(iso) { return Math.round(Date.parse(iso + "T00:00:00Z") / 864e5); }
  function dayLabel(index) { var d = new Date(index * 864e5); return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate(); }
  function stageName(s) { return s.replace(/_/g, " "); }
  function empty(container, text) { htmlEl("p", {"class": "empty"}, container, text); }
  function figure(container, cls, vendor, title) {
    var fig = htmlEl("figure", {"class": "chart " + cls, "data-vendor": vendor}, container);
    htmlEl("h3", {}, fig, title);
    return fig;
  }

  /* Funnel: one row per sequence, one column per stage. The bar is the share of the sequence's first
     reported stage; the label is the count and fct_funnel's conversion from the stage before. */
  function drawFunnel(container) {
    if (!data.funnel.length) return empty(container, "No funnel yet.");
    var W = 1150, labelW = 240, rowH = 30, headH = 22, stages = data.stages;
    var colW = (W - labelW) / stages.length, barW = colW - 14;
    data.vendors.forEach(function (v) {
      var rows = data.funnel.filter(function (r) { return r.vendor === v.vendor; });
      if (!rows.length) return;
      var fig = figure(container, "funnel", v.vendor, v.label);
      var svg = svgEl("svg", {id: "funnel-" + v.vendor, viewBox: "0 0 " + W + " " + (headH + rows.length * rowH),
                              role: "img"}, fig);
      stages.forEach(function (s, i) {
        svgEl("text", {x: labelW + i * colW, y: 14, "class": "axis"}, svg, stageName(s));
      });
      rows.forEach(function (r, j) {
        var y = headH + j * rowH;
        var base = r.counts.filter(function (c) { return c !== null; })[0];
        var g = svgEl("g", {"class": "funnel-row", "data-sequence": r.sequence_id}, svg);
        tip(svgEl("text", {x: 0, y: y + 19}, g, clip(r.name, 38)), r.name);
        svgEl("line", {x1: 0, x2: W, y1: y + rowH - 1, y2: y + rowH - 1, "class": "grid"}, g);
        r.counts.forEach(function (count, i) {
          var x = labelW + i * colW;
          if (count === null) {
            svgEl("text", {x: x, y: y + 12, "class": "axis"}, g, "n/a");
            return;
          }
          svgEl("text", {x: x, y: y + 12}, g, num(count) + (r.rates[i] === null ? "" : " \u00b7 " + pct(r.rates[i])));
          svgEl("rect", {x: x, y: y + 16, width: barW, height: 8, fill: "var(--panel)"}, g);
          var share = base ? Math.min(1, count / base) : 0;
          tip(svgEl("rect", {"class": "funnel-bar", "data-stage": stages[i], x: x, y: y + 16,
                             width: Math.max(count > 0 ? 1.5 : 0, barW * share), height: 8,
                             fill: count === base ? "var(--sent)" : "var(--accent)"}, g),
              r.name + " \u2014 " + stageName(stages[i]) + ": " + num(count) +
              (r.rates[i] === null ? "" : " (" + pct(r.rates[i]) + " of the stage before)"));
        });
      });
    });
  }

  /* Daily trends: per vendor, all sequences together; one row per metric, each on its own scale:
     sends as bars, then a line per engagement metric. */
  function drawDaily(container) {
    if (!data.daily.length) return empty(container, "No daily numbers yet.");
    var W = 1150, left = 150, right = 8, barH = 56, lineH = 34, gap = 10;
    data.daily.forEach(function (d) {
      var fig = figure(container, "daily", d.vendor, labels[d.vendor] || d.vendor);
      var metrics = Object.keys(d.series);
      var H = metrics.reduce(function (h, m) { return h + (m === d.volume ? barH : lineH) + gap; }, 0) + 18;
      if (!d.days.length) return empty(fig, "No days loaded.");
      var svg = svgEl("svg", {id: "daily-" + d.vendor, viewBox: "0 0 " + W + " " + H, role: "img"}, fig);
      var first = dayIndex(d.days[0]), span = dayIndex(d.days[d.days.length - 1]) - first + 1;
      var step = (W - left - right) / span, top = 0;
      function x(day) { return left + (dayIndex(day) - first + 0.5) * step; }
      metrics.forEach(function (m, k) {
        var values = d.series[m], h = m === d.volume ? barH : lineH;
        var most = Math.max.apply(null, values.map(function (v) { return v || 0; }));
        var total = values.reduce(function (sum, v) { return sum + (v || 0); }, 0), peak = Math.max(most, 1);
        svgEl("text", {x: 0, y: top + 13, "font-weight": 600}, svg, stageName(m));
        svgEl("text", {x: 0, y: top + 26, "class": "axis"}, svg, num(total) + " in all \u00b7 peak " + num(most));
        svgEl("line", {x1: left, x2: W - right, y1: top + h, y2: top + h, "class": "grid"}, svg);
        if (m === d.volume) {
          values.forEach(function (value, i) {
            if (value === null) return;
            var bh = h * value / peak;
            tip(svgEl("rect", {"class": "daily-bar", "data-day": d.days[i], x: x(d.days[i]) - step * 0.4,
                               y: top + h - bh, width: Math.max(1, step * 0.8), height: bh,
                               fill: "var(--sent)"}, svg),
                d.days[i] + ": " + num(value) + " " + m);
          });
        } else {
          var path = "", points = 0, pen = "M";
          values.forEach(function (value, i) {
            if (value === null) { pen = "M"; return; }
            path += pen + x(d.days[i]).toFixed(1) + "," + (top + h - h * value / peak).toFixed(1) + " ";
            pen = "L";
            points += 1;
          });
          tip(svgEl("path", {"class": "daily-line", "data-metric": m, "data-points": points, d: path.trim(),
                             fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 1.5,
                             "stroke-linejoin": "round"}, svg), stageName(m) + " per day");
        }
        top += h + gap;
      });
      var every = Math.max(1, Math.ceil(span / 12));
      for (var t = 0; t < span; t += every) {
        svgEl("text", {x: left + (t + 0.5) * step, y: top + 8, "text-anchor": "middle", "class": "axis"}, svg,
              dayLabel(first + t));
      }
    });
  }

  /* Steps and variants: per sequence, the reply rate of each variant side by side per step, and the
     step's verdict. */
  function drawSteps(container) {
    if (!data.steps.length) return empty(container, "No step or variant statistics yet.");
    var W = 380, top = 22, plotH = 96, H = 196;
    data.steps.forEach(function (panel) {
      var box = htmlEl("div", {"class": "step-panel", "data-vendor": panel.vendor,
                               "data-sequence": panel.sequence_id}, container);
      htmlEl("h3", {title: panel.name}, box, (labels[panel.vendor] || panel.vendor) + " \u00b7 " + panel.name);
      var svg = svgEl("svg", {viewBox: "0 0 " + W + " " + H, role: "img"}, box);
      var rates = [];
      panel.steps.forEach(function (s) { s.variants.forEach(function (v) { rates.push(v.reply_rate || 0); }); });
      var maxRate = Math.max.apply(null, rates.concat([0.01])), groupW = W / panel.steps.length;
      svgEl("line", {x1: 0, x2: W, y1: top + plotH, y2: top + plotH, "class": "grid"}, svg);
      panel.steps.forEach(function (s, k) {
        var gx = k * groupW, barW = Math.min(30, (groupW - 14) / s.variants.length);
        var start = gx + (groupW - barW * s.variants.length) / 2;
        s.variants.forEach(function (v, i) {
          var h = v.reply_rate === null ? 0 : plotH * v.reply_rate / maxRate, bx = start + i * barW;
          tip(svgEl("rect", {"class": "variant-bar", "data-step": String(s.step), "data-variant": String(v.variant),
                             "data-verdict": v.verdict, x: bx + 1, y: top + plotH - h, width: barW - 2, height: h,
                             fill: COLORS[i % COLORS.length]}, svg),
              s.label + ", variant " + v.variant + ": " + num(v.replied) + " replies of " + num(v.sent) +
              " sent (" + pct(v.reply_rate) + "), " + v.verdict);
          svgEl("text", {x: bx + barW / 2, y: top + plotH - h - 3, "text-anchor": "middle", "class": "axis"}, svg,
                pct(v.reply_rate));
          svgEl("text", {x: bx + barW / 2, y: top + plotH + 12, "text-anchor": "middle", "class": "axis"}, svg,
                clip(v.label, Math.max(2, Math.floor(barW / 6))));
        });
        svgEl("text", {x: gx + groupW / 2, y: top + plotH + 28, "text-anchor": "middle", "font-weight": 600}, svg,
              s.label);
        var verdict = svgEl("text", {x: gx + groupW / 2, y: top + plotH + 43, "text-anchor": "middle",
                                     "class": "verdict verdict-" + s.verdict.kind}, svg);
        wrap(s.verdict.text, Math.max(8, Math.floor(groupW / 5.6)), 3).forEach(function (line, n) {
          svgEl("tspan", {x: gx + groupW / 2, dy: n ? 12 : 0}, verdict, line);
        });
      });
    });
  }

  drawFunnel(document.getElementById("chart-funnel"));
  drawDaily(document.getElementById("chart-daily"));
  drawSteps(document.getElementById("chart-steps"));
  document.body.setAttribute("data-rendered", "true");
})();
