"""Interactive views of report.html, drawn by Plotly.js (embedded once, so the page works offline).

* :func:`explorer`: the fronts of one workload (throughput vs area and vs power, every trial);
  hover a point for its parameters and objectives, click one of the front to see its per-layer
  time and its roofline, zoom by dragging. The per-layer data of every front design (at most
  :data:`MAX_SELECTABLE`, those nearest the recommendation first) is computed here with the
  current model, in one vectorized evaluation per workload.
* :func:`parallel`: the Pareto designs in parallel coordinates with brushing (drag along an axis
  to keep a range).

Figures are Plotly JSON specs built in Python; the page script only wires clicks to
``Plotly.react`` with traces built from the embedded per-layer data. :func:`plotly_js` returns the
library (from the ``plotly`` package) for the page head.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from dse.errors import UserError
from dse.report import analysis as an
from dse.report import style
from dse.report.context import ReportData

#: front designs whose per-layer views are embedded (each adds a few kB per workload)
MAX_SELECTABLE = 400
#: points drawn per cloud (outside budgets; within budgets but off the front) in the explorer
MAX_CLOUD = 5000
BOUND_CODES = "csido"  # compute, sram, interconnect, dram, overhead: one letter per layer


def plotly_js() -> str:
    """Plotly.js, minified, from the installed ``plotly`` package (no network at view time)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def _round(values, digits: int = 4) -> list:
    """Numbers with ``digits`` significant digits (smaller JSON); NaN/inf become None."""
    a = np.asarray(values, dtype=float)
    out = []
    for v in a:
        out.append(float(f"{v:.{digits}g}") if np.isfinite(v) else None)
    return out


def _json(obj) -> str:
    # "</" must not close the script element that holds the JSON
    return json.dumps(obj, separators=(",", ":")).replace("</", "<\\/")


def _param_cells(frame: pd.DataFrame, params: list[str]) -> list[list]:
    cols = []
    for p in params:
        v = frame[p]
        cols.append([str(x) if not isinstance(x, (int, float, np.integer, np.floating)) or isinstance(x, bool)
                     else float(f"{float(x):.4g}") for x in v])
    return [list(row) for row in zip(*cols)] if cols else [[] for _ in range(len(frame))]


def _selectable(data: ReportData) -> pd.DataFrame:
    """Front designs with per-layer data: the chosen first, then the nearest to the recommendation."""
    front = data.front
    if len(front) <= MAX_SELECTABLE:
        return front
    r = data.r
    from dse.search import pareto as search_pareto

    z = search_pareto.normalize_losses(search_pareto.to_minimization(front[r.objectives].to_numpy(float),
                                                                      r.directions))
    k = int(data.chosen[0].row.name) if data.chosen else 0
    order = np.argsort(np.sqrt(((z - z[k]) ** 2).sum(axis=1)), kind="stable")
    keep = set(order[:MAX_SELECTABLE].tolist()) | {int(c.row.name) for c in data.chosen}
    return front.loc[sorted(keep)]


def layer_data(data: ReportData, wl: str, rows: pd.DataFrame) -> dict | None:
    """Per-layer time (us), overhead (us), bound letters and DRAM MB of each design on ``wl``, its
    depth-first stacks (``s``: [first layer, last layer, bands of rows, tiles per image] each), plus
    layer names and MACs, the designs' peak TOPS and DRAM GB/s; None if they cannot be re-evaluated."""
    from dse.hardware.physical import derive
    from dse.model.api import evaluate

    try:
        designs, tech = an.design_batch(data.r.spec, [row for _, row in rows.iterrows()])
    except UserError:
        return None
    batch = np.array([an.workload_batch(row, wl) for _, row in rows.iterrows()], dtype=np.int64)
    designs = designs.with_values(batch=batch)
    _, layers = evaluate(designs, wl, technology=tech, per_layer=True)
    lay = next(iter(layers.values()))
    n_layers = int((lay["design"] == 0).sum())
    hw = derive(designs, tech)
    shape = (len(rows), n_layers)
    time_us = lay["time_s"].to_numpy(float).reshape(shape) * 1e6  # the page shows us and ms
    ovh_us = lay["overhead_s"].to_numpy(float).reshape(shape) * 1e6
    dram_mb = lay["dram_bytes"].to_numpy(float).reshape(shape) / 1e6
    codes = {b: BOUND_CODES[i] for i, b in enumerate(an.BOUND_NAMES)}
    bound = lay["bound"].map(codes).to_numpy().reshape(shape)
    first = lay[lay["design"] == 0]
    stacks = {i: [[st["first"], st["last"], st["bands"], st["tiles"]] for st in sts]
              for i, sts in an.stacks_by_design(lay).items()}
    designs_out = {}
    for i, trial in enumerate(rows["trial"].astype(int)):
        designs_out[str(trial)] = {"t": _round(time_us[i]), "o": _round(ovh_us[i]), "b": "".join(bound[i]),
                                   "d": _round(dram_mb[i]), "batch": int(batch[i]), "s": stacks.get(i, []),
                                   "peak": float(f"{2.0 * hw.peak_macs_per_s[i] / 1e12:.4g}"),
                                   "bw": float(f"{hw.dram_bw_bytes_per_s[i] / 1e9:.4g}")}
    return {"names": first["name"].astype(str).tolist(), "macs": first["macs"].astype(float).tolist(),
            "designs": designs_out}


def _front_figure(data: ReportData, wl: str, xcol: str, ccol: str) -> dict:
    """Plotly spec: throughput on ``wl`` vs ``xcol`` for every trial; chosen designs on top."""
    r = data.r
    t = r.points  # the trials and, for a vectorized study, a sample of its designs table
    ycol = f"{wl}:throughput_ips"
    feas = t["feasible"].astype(bool).to_numpy()
    on_front = t["trial"].isin(set(data.front["trial"])).to_numpy() if len(data.front) else np.zeros(len(t), bool)
    params = [p for p in r.params if p in t]
    hover_cols = [ycol, xcol, ccol]
    head = "trial %{customdata[0]}<br>" + "<br>".join(
        f"{an.header(c)}: %{{customdata[{k + 1}]:.4g}}" for k, c in enumerate(hover_cols))
    head += "<br>" + "<br>".join(f"{an.header(p)}: %{{customdata[{k + 1 + len(hover_cols)}]}}"
                                 for k, p in enumerate(params))

    short = "%{customdata[0]}<br>" + "<br>".join(
        f"{an.header(c)}: %{{customdata[{k + 1}]:.4g}}" for k, c in enumerate(hover_cols))

    def custom(frame: pd.DataFrame, with_params: bool = True) -> list:
        vals = [[float(f"{v:.4g}") if np.isfinite(v) else None for v in an.friendly(frame[c].to_numpy(float), c)]
                for c in hover_cols]
        if not with_params:  # the clouds: a label (trials and designs-table rows), objectives only
            ids = _labels(frame)
            return [[ids[i], *[v[i] for v in vals]] for i in range(len(frame))]
        pc = _param_cells(frame, params)
        return [[int(tr), *[v[i] for v in vals], *pc[i]] for i, tr in enumerate(frame["trial"].astype(int))]

    def xy(frame):
        return (_round(an.friendly(frame[xcol].to_numpy(float), xcol)),
                _round(an.friendly(frame[ycol].to_numpy(float), ycol)))

    traces = []
    # The clouds off the front: objectives only in the hover (parameters are for the front designs),
    # and a seeded sample of at most MAX_CLOUD points each (exhaustive sweeps have 10^4..10^6).
    bad = _sample(t[~feas])
    if len(bad):
        x, y = xy(bad)
        traces.append({"type": "scattergl", "mode": "markers", "x": x, "y": y, "customdata": custom(bad, False),
                       "name": f"outside the budgets ({int((~feas).sum())})",
                       "hovertemplate": short + "<extra>outside budgets</extra>",
                       "marker": {"symbol": "x", "size": 5, "color": style.INFEASIBLE_COLOR}})
    ok = _sample(t[feas & ~on_front])
    if len(ok):
        x, y = xy(ok)
        traces.append({"type": "scattergl", "mode": "markers", "x": x, "y": y, "customdata": custom(ok, False),
                       "name": f"within the budgets ({int(feas.sum())})", "hovertemplate": short + "<extra></extra>",
                       "marker": {"size": 6, "opacity": 0.5,
                                  "color": _round(an.friendly(ok[ccol].to_numpy(float), ccol)),
                                  "colorscale": "Viridis", "showscale": True,
                                  "colorbar": {"title": {"text": an.header(ccol, short=True), "side": "right"},
                                               "thickness": 12}}})
    fr = t[on_front]
    if len(fr):
        fr = fr.sort_values(xcol)
        x, y = xy(fr)
        traces.append({"type": "scattergl", "mode": "markers", "x": x, "y": y, "customdata": custom(fr),
                       "name": f"Pareto front ({len(fr)}): click one", "hovertemplate": head + "<extra>front</extra>",
                       "marker": {"size": 8, "color": "rgba(0,0,0,0)", "line": {"color": style.FRONT_COLOR, "width": 1.2}}})
    for ch in data.chosen:
        one = t[t["trial"] == ch.trial]
        x, y = xy(one)
        traces.append({"type": "scatter", "mode": "markers", "x": x, "y": y, "customdata": custom(one),
                       "name": f"{ch.short} (trial {ch.trial})", "hovertemplate": head + f"<extra>{ch.short}</extra>",
                       "marker": {"symbol": style.role_symbol(ch.key), "size": 15, "color": style.role_color(ch.key),
                                  "line": {"color": "black", "width": 1}}})
    budget = r.budgets.get("area_mm2") if xcol == "area_mm2" else r.budgets.get("power_w")
    shapes = []
    if budget is not None:
        shapes.append({"type": "line", "xref": "x", "yref": "paper", "x0": budget, "x1": budget, "y0": 0, "y1": 1,
                       "line": {"color": style.BUDGET_COLOR, "dash": "dash", "width": 1.5}})
    ylog = _log_wanted(t[ycol])
    layout = {"title": {"text": f"throughput vs {an.unit_of(xcol)[0].split(' on ')[0]} on {wl}", "font": {"size": 14},
                        "x": 0.01, "xanchor": "left"},
              "xaxis": {"title": {"text": an.header(xcol, short=True)}, "type": "log" if _log_wanted(t[xcol]) else "linear"},
              "yaxis": {"title": {"text": an.header(ycol, short=True)}, "type": "log" if ylog else "linear"},
              "shapes": shapes, "hovermode": "closest", "clickmode": "event",
              "legend": {"orientation": "h", "y": -0.22, "x": 0, "font": {"size": 10}},
              "margin": {"l": 60, "r": 10, "t": 60, "b": 40}, "height": 490, "template": "plotly_white"}
    return {"data": traces, "layout": layout}


def _labels(frame: pd.DataFrame) -> list[str]:
    return an.design_labels(frame)


def _sample(frame: pd.DataFrame) -> pd.DataFrame:
    return frame if len(frame) <= MAX_CLOUD else frame.sample(MAX_CLOUD, random_state=0)


def _log_wanted(values: pd.Series) -> bool:
    v = values.to_numpy(float)
    v = v[np.isfinite(v) & (v > 0)]
    return bool(len(v) and v.max() / v.min() > 20)


def explorer(data: ReportData) -> list[str]:
    """HTML blocks of the front explorer (one per workload), or [] when there is nothing to show."""
    r = data.r
    if r.trials.empty or not len(data.front):
        return []
    selectable = _selectable(data)
    blocks = []
    for k, wl in enumerate(r.workloads):
        pcol = f"{wl}:power_w"
        if f"{wl}:throughput_ips" not in r.trials or pcol not in r.trials or "area_mm2" not in r.trials:
            continue
        layers = layer_data(data, wl, selectable) if r.spec is not None else None
        details = {str(int(row["trial"])): _details(r, row) for _, row in selectable.iterrows()}
        payload = {"id": f"x{k}", "workload": wl,
                   "figs": [_front_figure(data, wl, "area_mm2", pcol), _front_figure(data, wl, pcol, "area_mm2")],
                   "layers": layers, "details": details, "boundColors": [style.BOUND_COLORS[b] for b in an.BOUND_NAMES],
                   "boundLabels": [style.BOUND_LABELS[b] for b in an.BOUND_NAMES], "codes": BOUND_CODES,
                   "fusedShades": list(style.FUSED_SHADES), "fusedText": style.FUSED_TEXT_COLOR,
                   "start": data.chosen[0].trial if data.chosen else None}
        blocks.append(
            f'<h3>Explore the front on {wl}</h3>'
            f'<p class="meta">Hover a point for its parameters and objectives; click a front design (black ring) to '
            f'show its per-layer time and roofline below; drag to zoom, double-click to reset. Per-layer views use '
            f'the current model for {len(selectable)} front designs.</p>'
            f'<div class="xgrid"><div id="x{k}-f0" class="plot"></div><div id="x{k}-f1" class="plot"></div></div>'
            f'<div class="xsel" id="x{k}-sel"></div>'
            f'<div class="xgrid"><div id="x{k}-lay" class="plot"></div><div id="x{k}-roof" class="plot"></div></div>'
            f'<script type="application/json" id="x{k}-data">{_json(payload)}</script>'
            f'<script>dseExplorer("x{k}");</script>')
    return blocks


def _details(r, row: pd.Series) -> list[list[str]]:
    """(label, value with unit) pairs shown for a selected design."""
    out = []
    for c in r.objectives + [f"{wl}:throughput_ips" for wl in r.workloads if f"{wl}:throughput_ips" not in r.objectives]:
        if c in row:
            out.append([an.header(c), an.fmt(an.friendly(float(row[c]), c))])
    for p in r.params:
        if p in row:
            out.append([an.header(p), an.fmt(row[p])])
    return out


def parallel(data: ReportData, cols: list[str]) -> list[str]:
    """HTML block: the front in parallel coordinates (Plotly parcoords, brushing), coloured by the first objective."""
    front = data.front
    if len(front) < 2 or not cols:
        return []
    dims = []
    for col in cols:
        vals, cats = an.axis_values(front, col, data.r.spec)
        dim = {"label": _short_label(col), "values": _round(vals)}
        if cats is not None:
            dim["tickvals"] = list(range(len(cats)))
            dim["ticktext"] = cats
        dims.append(dim)
    c0 = data.r.objectives[0]
    spec = {"data": [{"type": "parcoords", "dimensions": dims,
                      "line": {"color": _round(an.friendly(front[c0].to_numpy(float), c0)), "colorscale": "Viridis",
                               "showscale": True, "colorbar": {"title": {"text": an.header(c0, short=True)}}},
                      "labelangle": -20, "labelside": "top"}],
            "layout": {"height": 480, "margin": {"l": 70, "r": 70, "t": 90, "b": 30}, "template": "plotly_white"}}
    return [f'<h3>The {len(front)} Pareto designs in parallel coordinates</h3>'
            '<p class="meta">Drag along an axis to keep a range (brushing); drag an axis title to reorder. Colour: '
            f'{an.header(c0)}.</p><div id="pc" class="plot"></div>'
            f'<script type="application/json" id="pc-data">{_json(spec)}</script>'
            '<script>dsePlot("pc");</script>']


def _short_label(col: str) -> str:
    label, unit, _ = an.unit_of(col)
    name, _, wl = label.partition(" on ")
    wl = wl.split("@")[0]
    return f"{name}{(' ' + wl) if wl else ''}{(' [' + unit + ']') if unit else ''}"


#: page script: draws the embedded specs and wires clicks (plotting itself is Plotly's)
PAGE_JS = r"""
function dseData(id){return JSON.parse(document.getElementById(id+"-data").textContent);}
var DSE_CONFIG={responsive:true,displaylogo:false};
function dsePlot(id){var s=dseData(id);Plotly.newPlot(id,s.data,s.layout,DSE_CONFIG);}
function dseExplorer(id){
  var D=dseData(id);
  D.figs.forEach(function(f,i){
    var el=document.getElementById(id+"-f"+i);
    Plotly.newPlot(el,f.data,f.layout,DSE_CONFIG);
    el.on("plotly_click",function(ev){if(!ev.points.length){return;}var c=ev.points[0].customdata[0];
      if(typeof c==="number"){dseSelect(D,id,c);}
      else{document.getElementById(id+"-sel").innerHTML="<b>Selected: "+c+"</b> (not on the front: no per-layer view)";}});
  });
  if(D.start!==null){dseSelect(D,id,D.start);}
}
function dseSelect(D,id,trial){
  var key=String(trial), sel=document.getElementById(id+"-sel");
  var det=D.details[key];
  var head="<b>Selected: trial "+key+"</b>";
  if(!det){sel.innerHTML=head+" (not on the front, or beyond the "+Object.keys(D.details).length+
    " front designs embedded: no per-layer view)";return;}
  sel.innerHTML=head+" &nbsp; "+det.map(function(kv){return "<span>"+kv[0]+": <b>"+kv[1]+"</b></span>";}).join(" &middot; ");
  if(!D.layers||!D.layers.designs[key]){return;}
  var L=D.layers, d=L.designs[key], n=d.t.length, idx=[];
  for(var i=0;i<n;i++){idx.push(i);}
  var S=d.s||[], lab=L.names.slice(), shapes=[], notes=[], fused=0;
  S.forEach(function(st,k){
    fused+=st[1]-st[0]+1;
    for(var i=st[0];i<=st[1];i++){lab[i]=L.names[i]+"<br>depth-first stack "+(k+1)+": "+st[2]+" bands of rows, "+st[3]+" tiles per image";}
    shapes.push({type:"rect",xref:"x",yref:"paper",x0:st[0]-0.5,x1:st[1]+0.5,y0:0,y1:1,fillcolor:D.fusedShades[k%2],
      opacity:0.7,line:{width:0},layer:"below"});
    notes.push({x:(st[0]+st[1])/2,y:1,xref:"x",yref:"paper",text:String(st[2]),showarrow:false,yanchor:"bottom",
      font:{size:9,color:D.fusedText},hovertext:"stack "+(k+1)+": "+st[2]+" bands of rows, "+st[3]+" tiles per image"});
  });
  var sched=S.length?"depth-first: "+fused+" of "+n+" layers in "+S.length+" stack"+(S.length>1?"s":"")+
    " (shaded; number: bands of rows)":"layer by layer";
  var bars=[];
  for(var b=0;b<D.codes.length;b++){
    var c=D.codes[b], y=d.t.map(function(t,i){var body=t-(d.o[i]||0);
      if(c==="o"){return (d.o[i]||0)+(d.b[i]==="o"?body:0);} return d.b[i]===c?body:0;});
    bars.push({type:"bar",x:idx,y:y.map(function(v){return v/1000;}),name:D.boundLabels[b]+(c==="o"?"":"-bound"),
      marker:{color:D.boundColors[b]},text:lab,textposition:"none",hovertemplate:"%{text}<br>%{y:.3g} ms<extra>"+D.boundLabels[b]+"</extra>"});
  }
  var total=d.t.reduce(function(a,v){return a+v;},0)/1000;
  Plotly.react(id+"-lay",bars,{barmode:"stack",bargap:0.1,template:"plotly_white",height:400,
    title:{text:"trial "+key+": "+total.toPrecision(3)+" ms per batch of "+d.batch+", by layer<br><sub>"+sched+"</sub>",
      font:{size:13},x:0.01,xanchor:"left"},shapes:shapes,annotations:notes,
    xaxis:{title:{text:"layer (network order)"}},yaxis:{title:{text:"time [ms]"}},
    legend:{orientation:"h",y:-0.25},margin:{l:60,r:10,t:84,b:40}},DSE_CONFIG);
  var pts={}, roof=[], lo=1e30, hi=0;
  for(var i=0;i<n;i++){
    if(!(L.macs[i]>0)){continue;}
    var ops=2*L.macs[i]*d.batch, tops=ops/(d.t[i]*1e-6)/1e12, dram=d.d[i]*1e6;
    var oi=dram>0?ops/dram:null; if(oi===null){continue;}
    lo=Math.min(lo,oi); hi=Math.max(hi,oi);
    var c=d.b[i]; if(!pts[c]){pts[c]={x:[],y:[],text:[]};}
    pts[c].x.push(oi); pts[c].y.push(tops); pts[c].text.push(L.names[i]);
  }
  var ridge=d.peak*1e12/(d.bw*1e9); lo=Math.min(lo,ridge)/4; hi=Math.max(hi,ridge)*4;
  var xs=[],ys=[]; for(var k=0;k<=60;k++){var x=lo*Math.pow(hi/lo,k/60); xs.push(x); ys.push(Math.min(d.peak,d.bw*1e9*x/1e12));}
  roof.push({type:"scatter",mode:"lines",x:xs,y:ys,name:"roof: "+d.peak.toPrecision(3)+" TOPS, DRAM "+d.bw.toPrecision(3)+" GB/s",
    line:{color:"black",width:1.5},hoverinfo:"skip"});
  for(var b=0;b<D.codes.length;b++){var p=pts[D.codes[b]]; if(!p){continue;}
    roof.push({type:"scatter",mode:"markers",x:p.x,y:p.y,text:p.text,name:D.boundLabels[b]+(D.codes[b]==="o"?"":"-bound"),
      marker:{color:D.boundColors[b],size:8,opacity:0.8},
      hovertemplate:"%{text}<br>%{x:.3g} ops/byte, %{y:.3g} TOPS<extra></extra>"});}
  Plotly.react(id+"-roof",roof,{template:"plotly_white",height:400,title:{text:"trial "+key+": roofline (layers with DRAM traffic)",font:{size:13},x:0.01,xanchor:"left"},
    xaxis:{type:"log",title:{text:"operational intensity [ops/DRAM byte]"}},yaxis:{type:"log",title:{text:"achieved [TOPS]"}},
    legend:{orientation:"h",y:-0.25},margin:{l:60,r:10,t:60,b:40}},DSE_CONFIG);
}
"""
