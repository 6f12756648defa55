/// `/` on the admin port: a live page served by Mesher itself, with no external asset. Every 2 s it reads
/// `/clusters` and `/metrics`; rates, success and latency quantiles over the last minute are computed in the
/// page from the counters' and histograms' growth, as Prometheus would (`rate`, `histogram_quantile`).
enum AdminPage {
    static let html = #"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>Mesher</title>
        <style>
        body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
        h1{font-size:1.3em;margin:0 0 .2em} h2{font-size:1.05em;margin:1.4em 0 .4em}
        table{border-collapse:collapse;min-width:40em} td,th{padding:.25em .7em;text-align:left;border-bottom:1px solid #ddd}
        th{background:#f4f4f4} .num{text-align:right;font-variant-numeric:tabular-nums}
        .down,.ejected,.bad{color:#b00020;font-weight:600} .up{color:#1b7f3b} #updated{color:#777}
        svg text{font-size:12px}
        </style></head><body>
        <h1>Mesher</h1><div id="updated">loading…</div>
        <h2>Services (last minute)</h2>
        <table id="services"><thead><tr><th>direction</th><th>service</th><th class="num">req/s</th>
        <th class="num">success</th><th class="num">p50</th><th class="num">p99</th></tr></thead><tbody></tbody></table>
        <h2>Instances</h2>
        <table id="instances"><thead><tr><th>service</th><th>instance</th><th>health</th><th>ejection</th>
        <th class="num">active</th><th class="num">latency (ewma)</th></tr></thead><tbody></tbody></table>
        <h2>Errors (last minute)</h2>
        <table id="errors"><thead><tr><th>what</th><th class="num">count</th></tr></thead><tbody></tbody></table>
        <h2>Who calls whom through this Mesher</h2>
        <svg id="graph" width="720" height="60"></svg>
        <script>
        "use strict";
        const history = [];
        function parse(text) {
          const samples = [];
          for (const line of text.split("\n")) {
            if (!line || line[0] === "#") continue;
            const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/);
            if (!m) continue;
            const labels = {};
            for (const p of (m[3] || "").matchAll(/([a-zA-Z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[p[1]] = p[2];
            samples.push({name: m[1], labels, value: Number(m[4])});
          }
          return samples;
        }
        function sum(samples, name, keep) {
          const out = new Map();
          for (const s of samples) if (s.name === name && keep(s.labels)) {
            const key = keep.key ? keep.key(s.labels) : "";
            out.set(key, (out.get(key) || 0) + s.value);
          }
          return out;
        }
        function key(l) { return l.direction + " " + l.service; }
        function quantile(q, buckets) {
          const les = [...buckets.keys()].map(Number).filter(x => isFinite(x)).sort((a, b) => a - b);
          const total = buckets.get("+Inf") || 0;
          if (!total) return null;
          let prevLe = 0, prevCount = 0;
          for (const le of les) {
            const count = buckets.get(String(le)) ?? buckets.get(le.toFixed(1)) ?? 0;
            if (count >= q * total) return prevLe + (le - prevLe) * (q * total - prevCount) / Math.max(count - prevCount, 1e-9);
            prevLe = le; prevCount = count;
          }
          return prevLe;
        }
        function ms(seconds) { return seconds == null ? "–" : (seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1) + " ms"; }
        function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
        function services(now, then, dt) {
          const counts = s => { const m = new Map();
            for (const x of s) if (x.name === "mesher_requests_total") {
              const k = key(x.labels), e = m.get(k) || {all: 0, ok: 0};
              e.all += x.value; if (x.labels.class !== "5xx" && x.labels.code !== "0") e.ok += x.value; m.set(k, e); }
            return m; };
          const buckets = s => { const m = new Map();
            for (const x of s) if (x.name === "mesher_request_duration_seconds_bucket") {
              const k = key(x.labels), b = m.get(k) || new Map();
              b.set(x.labels.le, (b.get(x.labels.le) || 0) + x.value); m.set(k, b); }
            return m; };
          const a = counts(now), b = counts(then), ba = buckets(now), bb = buckets(then);
          const body = document.querySelector("#services tbody"); body.replaceChildren();
          const edges = [];
          for (const [k, e] of [...a.entries()].sort()) {
            const old = b.get(k) || {all: 0, ok: 0}, n = e.all - old.all, ok = e.ok - old.ok;
            const delta = new Map(); const nb = ba.get(k) || new Map(), ob = bb.get(k) || new Map();
            for (const [le, c] of nb) delta.set(le, c - (ob.get(le) || 0));
            const [direction, service] = k.split(" ");
            const row = body.insertRow(); row.dataset.service = service; row.dataset.direction = direction;
            cell(row, direction); cell(row, service);
            cell(row, dt > 0 ? (n / dt).toFixed(2) : "0.00", "num rate");
            cell(row, n > 0 ? (100 * ok / n).toFixed(1) + " %" : "–", "num" + (n > 0 && ok < n ? " bad" : ""));
            cell(row, ms(quantile(0.5, delta)), "num"); cell(row, ms(quantile(0.99, delta)), "num");
            edges.push({direction, service, rate: dt > 0 ? n / dt : 0});
          }
          return edges;
        }
        function errors(now, then) {
          const body = document.querySelector("#errors tbody"); body.replaceChildren();
          const count = (s, name, label) => { const m = new Map();
            for (const x of s) if (x.name === name) { const k = label(x.labels); if (k) m.set(k, (m.get(k) || 0) + x.value); }
            return m; };
          const rows = [];
          for (const [name, label] of [["mesher_answers_total", l => "mesher: " + l.reason],
               ["mesher_requests_total", l => (l.class === "5xx" || l.code === "0") ? l.service + ": " + l.code : null],
               ["mesher_upstream_connect_failures_total", l => "connect " + l.service + ": " + l.reason],
               ["mesher_ejections_total", l => "ejection " + l.service]]) {
            const a = count(now, name, label), b = count(then, name, label);
            for (const [k, v] of a) if (v - (b.get(k) || 0) > 0) rows.push([k, v - (b.get(k) || 0)]);
          }
          if (!rows.length) { const r = body.insertRow(); cell(r, "none"); cell(r, "0", "num"); }
          for (const [k, v] of rows.sort((x, y) => y[1] - x[1])) { const r = body.insertRow(); cell(r, k, "bad"); cell(r, String(v), "num"); }
        }
        function instances(clusters) {
          const body = document.querySelector("#instances tbody"); body.replaceChildren();
          for (const s of clusters.services || []) for (const i of s.instances) {
            const row = body.insertRow(); row.dataset.service = s.name;
            cell(row, s.name); cell(row, i.address.includes(":") ? "[" + i.address + "]:" + i.port : i.address + ":" + i.port);
            cell(row, i.health, i.health);
            cell(row, i.ejected ? "ejected " + i.ejectedSeconds + " s" : "–", i.ejected ? "ejected" : "");
            cell(row, String(i.active), "num"); cell(row, i.ewmaMilliseconds == null ? "–" : i.ewmaMilliseconds + " ms", "num");
          }
        }
        function graph(edges) {
          const svg = document.getElementById("graph"), ns = "http://www.w3.org/2000/svg";
          svg.replaceChildren();
          const out = edges.filter(e => e.direction === "outbound"), inn = edges.filter(e => e.direction === "inbound");
          const h = 30 + 26 * Math.max(out.length, inn.length, 1); svg.setAttribute("height", h);
          const node = (x, y, text) => { const t = document.createElementNS(ns, "text");
            t.setAttribute("x", x); t.setAttribute("y", y); t.textContent = text; svg.appendChild(t); };
          const line = (x1, y1, x2, y2, w) => { const l = document.createElementNS(ns, "line");
            for (const [k, v] of Object.entries({x1, y1, x2, y2})) l.setAttribute(k, v);
            l.setAttribute("stroke", "#557"); l.setAttribute("stroke-width", w); svg.appendChild(l); };
          const mid = h / 2; node(300, mid + 4, "this app");
          inn.forEach((e, i) => { const y = 20 + 26 * i; node(10, y + 4, (e.service === "passthrough" ? "callers" : e.service) + " (" + e.rate.toFixed(1) + "/s)");
            line(200, y, 295, mid, 1 + Math.min(e.rate, 50) / 10); });
          out.forEach((e, i) => { const y = 20 + 26 * i; line(370, mid, 470, y, 1 + Math.min(e.rate, 50) / 10);
            node(475, y + 4, e.service + " (" + e.rate.toFixed(1) + "/s)"); });
        }
        async function refresh() {
          try {
            const [metrics, clusters] = await Promise.all([
              fetch("/metrics").then(r => r.ok ? r.text() : ""), fetch("/clusters").then(r => r.ok ? r.json() : {})]);
            const t = Date.now() / 1000, samples = parse(metrics);
            history.push({t, samples});
            while (history.length > 2 && t - history[1].t >= 60) history.shift();
            const then = history.length > 1 ? history[0] : {t, samples: []};
            const edges = services(samples, then.samples, t - then.t);
            errors(samples, then.samples); instances(clusters); graph(edges);
            document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString() +
              " · window " + Math.round(t - then.t) + " s";
          } catch (e) { document.getElementById("updated").textContent = "admin API unreachable: " + e; }
        }
        refresh(); setInterval(refresh, 2000);
        </script></body></html>

        """#
}
