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
  function dayIndex(iso) { return Math.round(Date.parse(iso + "T00:00:00Z") / 864e5); }
  function dayLabel(index) { var d = new Date(index * 864e5); return MONTHS[d.getUTCMonth()] + " " + d.getUTCDate(); }
  function stageName(s) { return s.replace(/_/g, " "); }
  function empty(container, text) { htmlEl("p", {"class": "empty"}, container, text); }
  function figure(container, cls, vendor, title) {
    var fig = htmlEl("figure", {"class": "chart " + cls, "data-vendor": vendor}, container);
    htmlEl("h3", {}, fig, title);
    return fig;
  }

  /* Funnel: one row per sequence, one column per stage; bar = share of sent, label = count (conversion). */
  function drawFunnel(container) {
    if (!data.funnel.length) return empty(container, "No funnel yet.");
    var W = 1150, labelW = 240, rowH = 30, headH = 22, stages = data.stages;
    var colW = (W - labelW) / stages.length;
    data.vendors.forEach(function (v) {
      var rows = data.funnel.filter(function (r) { return r.vendor === v.vendor; });
      if (!rows.length) return;
      var fig = figure(container, "funnel", v.vendor, v.label);
      var H = headH + rows.length * rowH;
      var svg = svgEl("svg", {id: "funnel-" + v.vendor, viewBox: "0 0 " + W + " " + H, role: "img"}, fig);
      stages.forEach(function (s, i) { svgEl("text", {x: labelW + i * colW, y: 14, "class": "axis"}, svg, stageName(s)); });
      rows.forEach(function (r, j) {
        var y = headH + j * rowH, sent = r.counts[0], previous = null;
        var g = svgEl("g", {"class": "funnel-row", "data-sequence": r.sequence_id}, svg);
        tip(svgEl("text", {x: 0, y: y + 19}, g, clip(r.name, 38)), r.name);
        svgEl("line", {x1: 0, x2: W, y1: y + rowH - 1, y2: y + rowH - 1, "class": "grid"}, g);
        r.counts.forEach(function (count, i) {
          var x = labelW + i * colW, barW = colW - 14;
          if (count === null) {
            svgEl("text", {x: x, y: y + 12, "class": "axis"}, g, "n/a");
            return;
          }
          var label = num(count) + (previous ? " \u00b7 " + pct(count / previous) : "");
          svgEl("text", {x: x, y: y + 12}, g, label);
          svgEl("rect", {x: x, y: y + 16, width: barW, height: 8, fill: "var(--panel)"}, g);
          var share = sent ? Math.min(1, count / sent) : 0;
          tip(svgEl("rect", {"class": "funnel-bar", "data-stage": stages[i], x: x, y: y + 16,
                             width: Math.max(count > 0 ? 1.5 : 0, barW * share), height: 8,
                             fill: i === 0 ? "var(--sent)" : "var(--accent)"}, g),
              r.name + " \u2014 " + stageName(stages[i]) + ": " + num(count) + " (" + pct(sent ? count / sent : null) + " of sent)");
          previous = count || null;
        });
      });
    });
  }

  /* Daily trends: per vendor, bars of sends per day over lines of engagement per day. */
  function drawDaily(container) {
    if (!data.daily.length) return empty(container, "No daily numbers yet.");
    var W = 1150, left = 56, right = 12, barTop = 8, barH = 80, lineTop = 112, lineH = 110, H = 250;
    data.daily.forEach(function (d) {
      var fig = figure(container, "daily", d.vendor, labels[d.vendor] || d.vendor);
      var metrics = Object.keys(d.series).filter(function (m) { return m !== "sent"; });
      var legend = htmlEl("div", {"class": "legend"}, fig);
      if (d.series.sent) htmlEl("span", {style: "--swatch: var(--sent)"}, legend, "sent (bars)");
      metrics.forEach(function (m, i) { htmlEl("span", {style: "--swatch: " + COLORS[i]}, legend, stageName(m)); });
      var svg = svgEl("svg", {id: "daily-" + d.vendor, viewBox: "0 0 " + W + " " + H, role: "img"}, fig);
      if (!d.days.length) return;
      var first = dayIndex(d.days[0]), span = dayIndex(d.days[d.days.length - 1]) - first + 1;
      var step = (W - left - right) / span;
      function x(day) { return left + (dayIndex(day) - first + 0.5) * step; }
      function axis(top, height, max) {
        svgEl("line", {x1: left, x2: W - right, y1: top + height, y2: top + height, "class": "grid"}, svg);
        svgEl("line", {x1: left, x2: W - right, y1: top, y2: top, "class": "grid", "stroke-dasharray": "3 3"}, svg);
        svgEl("text", {x: left - 6, y: top + 4, "text-anchor": "end", "class": "axis"}, svg, num(max));
        svgEl("text", {x: left - 6, y: top + height, "text-anchor": "end", "class": "axis"}, svg, "0");
      }
      function peak(values) { return Math.max.apply(null, values.map(function (v) { return v || 0; }).concat([1])); }
      if (d.series.sent) {
        var maxSent = peak(d.series.sent);
        axis(barTop, barH, maxSent);
        d.series.sent.forEach(function (value, i) {
          if (value === null) return;
          var h = barH * value / maxSent;
          tip(svgEl("rect", {"class": "daily-bar", "data-day": d.days[i], x: x(d.days[i]) - step * 0.4,
                             y: barTop + barH - h, width: Math.max(1, step * 0.8), height: h, fill: "var(--sent)"}, svg),
              d.days[i] + ": " + num(value) + " sent");
        });
      }
      var maxLine = peak([].concat.apply([], metrics.map(function (m) { return d.series[m]; })));
      axis(lineTop, lineH, maxLine);
      metrics.forEach(function (m, k) {
        var path = "", points = 0, pen = "M";
        d.series[m].forEach(function (value, i) {
          if (value === null) { pen = "M"; return; }
          path += pen + x(d.days[i]).toFixed(1) + "," + (lineTop + lineH - lineH * value / maxLine).toFixed(1) + " ";
          pen = "L";
          points += 1;
        });
        tip(svgEl("path", {"class": "daily-line", "data-metric": m, "data-points": points, d: path.trim(),
                           fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 1.6,
                           "stroke-linejoin": "round"}, svg), stageName(m) + " per day");
      });
      var every = Math.max(1, Math.ceil(span / 10));
      for (var t = 0; t < span; t += every) {
        svgEl("text", {x: left + (t + 0.5) * step, y: H - 4, "text-anchor": "middle", "class": "axis"}, svg,
              dayLabel(first + t));
      }
    });
  }

  /* Steps and variants: per sequence, reply rate bars of each variant side by side, per step, with the verdict. */
  function verdictOf(variants) {
    var winner = variants.filter(function (v) { return v.significant; })[0];
    if (winner) return {text: winner.verdict, cls: "verdict-significant"};
    if (variants.every(function (v) { return v.too_few; })) return {text: "too few sends", cls: "verdict-few"};
    return {text: "no clear winner", cls: "verdict-none"};
  }
  function drawSteps(container) {
    if (!data.steps.length) return empty(container, "No step or variant statistics yet.");
    var W = 380, top = 22, plotH = 96, H = 178;
    data.steps.forEach(function (panel) {
      var box = htmlEl("div", {"class": "step-panel", "data-vendor": panel.vendor, "data-sequence": panel.sequence_id},
                       container);
      htmlEl("h3", {title: panel.name}, box, (labels[panel.vendor] || panel.vendor) + " \u00b7 " + panel.name);
      var svg = svgEl("svg", {viewBox: "0 0 " + W + " " + H, role: "img"}, box);
      var steps = [], byStep = {};
      panel.variants.forEach(function (v) {
        var key = String(v.step);
        if (!byStep[key]) { byStep[key] = []; steps.push(key); }
        byStep[key].push(v);
      });
      var maxRate = Math.max.apply(null, panel.variants.map(function (v) { return v.reply_rate || 0; }).concat([0.01]));
      var groupW = W / steps.length;
      svgEl("line", {x1: 0, x2: W, y1: top + plotH, y2: top + plotH, "class": "grid"}, svg);
      steps.forEach(function (key, s) {
        var variants = byStep[key], gx = s * groupW;
        var barW = Math.min(30, (groupW - 14) / variants.length);
        var start = gx + (groupW - barW * variants.length) / 2;
        variants.forEach(function (v, i) {
          var h = v.reply_rate === null ? 0 : plotH * v.reply_rate / maxRate, bx = start + i * barW;
          tip(svgEl("rect", {"class": "variant-bar", "data-step": key, "data-variant": String(v.variant),
                             x: bx + 1, y: top + plotH - h, width: barW - 2, height: h, fill: COLORS[i % COLORS.length]},
                    svg),
              "step " + key + ", variant " + v.variant + ": " + num(v.replied) + " replies of " + num(v.sent) +
              " sent (" + pct(v.reply_rate) + ")");
          svgEl("text", {x: bx + barW / 2, y: top + plotH - h - 3, "text-anchor": "middle", "class": "axis"}, svg,
                pct(v.reply_rate));
          svgEl("text", {x: bx + barW / 2, y: top + plotH + 12, "text-anchor": "middle"}, svg, clip(String(v.variant), 4));
        });
        svgEl("text", {x: gx + groupW / 2, y: top + plotH + 28, "text-anchor": "middle", "font-weight": 600}, svg,
              "step " + clip(key, 10));
        var verdict = verdictOf(variants);
        svgEl("text", {x: gx + groupW / 2, y: top + plotH + 44, "text-anchor": "middle", "class": "verdict " + verdict.cls},
              svg, clip(verdict.text, Math.max(8, Math.floor(groupW / 6))));
      });
    });
  }

  drawFunnel(document.getElementById("chart-funnel"));
  drawDaily(document.getElementById("chart-daily"));
  drawSteps(document.getElementById("chart-steps"));
  document.body.setAttribute("data-rendered", "true");
})();
