#include "report/svg.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/strings.h"

namespace porch {

const char* StateColour(const std::string& s) {
  if (s == "ok" || s == "succeeded") return "#2e9e5b";
  if (s == "running") return "#3b82f6";
  if (s == "pending" || s == "retry-wait") return "#c9ced6";
  if (s == "skipped") return "#e0b84c";
  if (s == "cancelled") return "#8a8f98";
  if (s == "timeout") return "#e8772e";
  return "#d64545";  // failed and every failure reason
}

namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

namespace {

// Past this many attempts the timeline draws busy blocks, not bars: a
// report that embeds 100,000 rectangles is too large to open.
constexpr size_t kMaxGanttBars = 3000;

// Each slot's attempts of one outcome, merged where they would touch on the
// drawing (within a pixel): one rectangle per block, its title saying how
// many attempts it holds.
std::string BusyBlocks(const RunMetrics& m, double left, double top, double row, double scale) {
  struct Block {
    double start, end;
    size_t count;
  };
  std::map<std::pair<int, std::string>, std::vector<std::pair<double, double>>> spans;
  for (const TaskMetrics& t : m.tasks) {
    for (const AttemptSpan& a : t.attempts) spans[{a.slot, a.outcome}].emplace_back(a.start, a.end);
  }
  auto draw = [&](const std::pair<int, std::string>& key, std::vector<std::pair<double, double>>& list) {
    std::sort(list.begin(), list.end());
    std::vector<Block> blocks;
    for (const auto& [start, end] : list) {
      if (!blocks.empty() && (start - blocks.back().end) * scale < 1.0) {
        blocks.back().end = std::max(blocks.back().end, end);
        ++blocks.back().count;
      } else {
        blocks.push_back({start, end, 1});
      }
    }
    std::string s;
    for (const Block& b : blocks) {
      std::string tip = std::to_string(b.count) + " attempt" + (b.count == 1 ? "" : "s") + " " +
                        key.second + ", " + FormatDuration(b.start) + " to " + FormatDuration(b.end);
      s += "<rect x=\"" + Num(left + b.start * scale) + "\" y=\"" + Num(top + key.first * row + 3) +
           "\" width=\"" + Num(std::max(1.0, (b.end - b.start) * scale)) + "\" height=\"" +
           Num(row - 6) + "\" fill=\"" + StateColour(key.second) + "\"><title>" + HtmlEscape(tip) +
           "</title></rect>\n";
    }
    return s;
  };
  std::string s;
  // Successes first, so that failures are drawn over them.
  for (bool successes : {true, false}) {
    for (auto& [key, list] : spans) {
      if ((key.second == "ok") == successes) s += draw(key, list);
    }
  }
  return s;
}

}  // namespace

std::string GanttSvg(const RunMetrics& m) {
  const double left = 70, right = 20, top = 24, row = 26, width = 960;
  const int rows = std::max(1, m.slots_used);
  const double height = top + rows * row + 30;
  const double span = std::max(m.makespan, 1e-3);
  const double scale = (width - left - right) / span;
  std::string s = "<svg class=\"gantt\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                  Num(width) + " " + Num(height) + "\" width=\"100%\">\n";
  for (int r = 0; r < rows; ++r) {
    double y = top + r * row;
    s += "<text x=\"4\" y=\"" + Num(y + 17) + "\" class=\"lbl\">slot " + std::to_string(r + 1) +
         "</text>\n";
    s += "<line x1=\"" + Num(left) + "\" x2=\"" + Num(width - right) + "\" y1=\"" +
         Num(y + row) + "\" y2=\"" + Num(y + row) + "\" class=\"grid\"/>\n";
  }
  // Time axis: about 8 ticks.
  for (int k = 0; k <= 8; ++k) {
    double t = span * k / 8;
    double x = left + t * scale;
    s += "<text x=\"" + Num(x) + "\" y=\"" + Num(top + rows * row + 18) +
         "\" class=\"tick\" text-anchor=\"middle\">" + HtmlEscape(FormatDuration(t)) +
         "</text>\n";
  }
  size_t bars = 0;
  for (const TaskMetrics& t : m.tasks) bars += t.attempts.size();
  if (bars > kMaxGanttBars) return s + BusyBlocks(m, left, top, row, scale) + "</svg>\n";
  for (const TaskMetrics& t : m.tasks) {
    for (const AttemptSpan& a : t.attempts) {
      double x = left + a.start * scale;
      double w = std::max(2.0, (a.end - a.start) * scale);
      double y = top + a.slot * row + 3;
      std::string tip = t.id + " (attempt " + std::to_string(a.attempt) + "): " + a.outcome +
                        ", " + FormatDuration(a.end - a.start);
      s += "<g class=\"bar\" data-task=\"" + HtmlEscape(t.id) + "\"><rect x=\"" + Num(x) +
           "\" y=\"" + Num(y) + "\" width=\"" + Num(w) + "\" height=\"" + Num(row - 6) +
           "\" rx=\"3\" fill=\"" + StateColour(a.outcome) + "\"><title>" + HtmlEscape(tip) +
           "</title></rect>";
      if (w > 40) {
        std::string label = t.id.size() > static_cast<size_t>(w / 7) ? t.id.substr(0, w / 7) : t.id;
        s += "<text x=\"" + Num(x + 4) + "\" y=\"" + Num(y + 14) + "\" class=\"barlbl\">" +
             HtmlEscape(label) + "</text>";
      }
      s += "</g>\n";
    }
  }
  s += "</svg>\n";
  return s;
}

std::string DagSvg(const Plan& plan, const Dag& dag, const RunMetrics& m, size_t max_nodes) {
  if (dag.size() > max_nodes) {
    return "<p class=\"note\">The plan has " + std::to_string(dag.size()) +
           " tasks; the graph is drawn for plans of up to " + std::to_string(max_nodes) +
           ". See plan.json for the dependencies.</p>\n";
  }
  std::vector<int> layer(dag.size(), 0);
  for (Dag::Index i : dag.TopologicalOrder()) {
    for (Dag::Index d : dag.deps(i)) layer[i] = std::max(layer[i], layer[d] + 1);
  }
  int layers = 0;
  for (int l : layer) layers = std::max(layers, l + 1);
  std::vector<int> pos(dag.size(), 0), count(layers, 0);
  for (Dag::Index i = 0; i < dag.size(); ++i) pos[i] = count[layer[i]]++;
  int tallest = 1;
  for (int c : count) tallest = std::max(tallest, c);
  const double col = 170, rowh = 44, nodew = 140, nodeh = 28, pad = 10;
  const double width = pad * 2 + layers * col, height = pad * 2 + tallest * rowh;
  auto cx = [&](Dag::Index i) { return pad + layer[i] * col; };
  auto cy = [&](Dag::Index i) { return pad + pos[i] * rowh; };
  std::string s = "<svg class=\"dag\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 " +
                  Num(width) + " " + Num(height) + "\" width=\"" + Num(std::min(width, 1400.0)) +
                  "\">\n";
  for (Dag::Index i = 0; i < dag.size(); ++i) {
    for (Dag::Index d : dag.deps(i)) {
      double x1 = cx(d) + nodew, y1 = cy(d) + nodeh / 2, x2 = cx(i), y2 = cy(i) + nodeh / 2;
      s += "<path class=\"edge\" d=\"M" + Num(x1) + "," + Num(y1) + " C" + Num(x1 + 15) + "," +
           Num(y1) + " " + Num(x2 - 15) + "," + Num(y2) + " " + Num(x2) + "," + Num(y2) +
           "\"/>\n";
    }
  }
  for (Dag::Index i = 0; i < dag.size(); ++i) {
    const std::string& id = plan.tasks[i].id;
    std::string state = TaskStateName(m.tasks[i].state);
    std::string label = id.size() > 18 ? id.substr(0, 17) + "…" : id;
    s += "<g class=\"node\" data-task=\"" + HtmlEscape(id) + "\" data-state=\"" + state +
         "\"><rect x=\"" + Num(cx(i)) + "\" y=\"" + Num(cy(i)) + "\" width=\"" + Num(nodew) +
         "\" height=\"" + Num(nodeh) + "\" rx=\"6\" fill=\"" + StateColour(state) +
         "\"><title>" + HtmlEscape(id + ": " + state) + "</title></rect><text x=\"" +
         Num(cx(i) + 8) + "\" y=\"" + Num(cy(i) + 18) + "\">" + HtmlEscape(label) +
         "</text></g>\n";
  }
  s += "</svg>\n";
  return s;
}

}  // namespace porch
