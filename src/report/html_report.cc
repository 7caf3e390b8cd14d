#include "report/html_report.h"

#include <cstdio>
#include <ctime>

#include "core/strings.h"
#include "report/svg.h"

namespace porch {

namespace {

const char* kStyle = R"(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px} h2{font-size:17px;margin:28px 0 8px}
.sub{color:#5b6474;margin-bottom:16px}
.cards{display:flex;flex-wrap:wrap;gap:10px}
.card{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:19px}
.card span{color:#5b6474;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.panel{background:#fff;border:1px solid #e3e6eb;border-radius:8px;padding:12px;overflow-x:auto}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eceef2;vertical-align:top}
th{background:#f3f5f8;font-weight:600}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px}
.gantt .lbl,.gantt .tick{font-size:11px;fill:#5b6474}
.gantt .grid{stroke:#eceef2}
.gantt .barlbl{font-size:11px;fill:#fff;pointer-events:none}
.dag text{font-size:12px;fill:#fff;pointer-events:none}
.dag .edge{fill:none;stroke:#9aa3b2;stroke-width:1.3}
.legend span{margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.note{color:#5b6474}
code{font-size:12px}
)";

}  // namespace

const char* ReportStyle() { return kStyle; }

namespace {

std::string Card(const std::string& label, const std::string& value) {
  return "<div class=\"card\"><b>" + HtmlEscape(value) + "</b><span>" + HtmlEscape(label) +
         "</span></div>";
}

std::string Fixed(double v, const char* fmt) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

std::string RenderReport(const Plan& plan, const Dag& dag, const RunMetrics& m) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>porch run " +
                  HtmlEscape(m.run_id) + "</title>\n<style>" + kStyle + "</style></head><body>\n";
  char when[64] = "";
  time_t t = static_cast<time_t>(m.started_at);
  struct tm tm_utc;
  if (gmtime_r(&t, &tm_utc)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm_utc);
  h += "<h1>porch run <code>" + HtmlEscape(m.run_id) + "</code></h1>\n";
  h += "<div class=\"sub\">" + HtmlEscape(plan.name.empty() ? std::string("plan") : plan.name) +
       " &middot; backend " + HtmlEscape(m.backend) + " &middot; M = " +
       std::to_string(m.max_executors) + " &middot; started " + when +
       " &middot; outcome <span class=\"pill\" style=\"background:" +
       StateColour(m.outcome == "succeeded" ? "ok" : m.outcome == "interrupted" ? "cancelled" : "failed") +
       "\">" + HtmlEscape(m.outcome) + "</span></div>\n";
  h += "<div class=\"cards\">" + Card("tasks", std::to_string(m.tasks.size())) +
       Card("succeeded", std::to_string(m.succeeded)) + Card("failed", std::to_string(m.failed)) +
       Card("skipped", std::to_string(m.skipped)) +
       Card("cancelled", std::to_string(m.cancelled)) + Card("makespan", FormatDuration(m.makespan)) +
       Card("task time", FormatDuration(m.total_task_time)) +
       Card("speedup", Fixed(m.speedup, "%.2fx")) +
       Card("efficiency", Fixed(m.efficiency * 100, "%.0f%%")) +
       Card("critical path", FormatDuration(m.critical_path)) +
       (m.tokens > 0 ? Card("AI cost", Fixed(m.cost_usd, "$%.4f")) +
                           Card("AI tokens", std::to_string(m.tokens))
                     : std::string()) +
       "</div>\n";
  if (!plan.requirements.empty()) {
    h += "<h2>Requirement</h2><div class=\"panel\">" + HtmlEscape(plan.requirements) + "</div>\n";
  }
  h += "<div class=\"legend\" style=\"margin-top:18px\">";
  for (const char* s : {"succeeded", "failed", "timeout", "skipped", "cancelled", "pending"}) {
    h += std::string("<span><i style=\"background:") + StateColour(s) + "\"></i>" + s + "</span>";
  }
  h += "</div>\n";
  h += "<h2>Timeline (one row per executor slot)</h2><div class=\"panel\">" + GanttSvg(m) +
       "</div>\n";
  h += "<h2>Task graph</h2><div class=\"panel\">" + DagSvg(plan, dag, m) + "</div>\n";
  if (!m.critical_path_tasks.empty()) {
    std::string path;
    for (size_t i = 0; i < m.critical_path_tasks.size(); ++i) {
      if (i) path += " &rarr; ";
      path += "<code>" + HtmlEscape(m.critical_path_tasks[i]) + "</code>";
    }
    h += "<p>Critical path (" + HtmlEscape(FormatDuration(m.critical_path)) + "): " + path +
         "</p>\n";
  }
  h += "<h2>Tasks</h2>\n<table><tr><th>task</th><th>title</th><th>state</th><th>attempts</th>"
       "<th>start</th><th>duration</th><th>exit</th><th>cost</th><th>tokens</th><th>job</th>"
       "<th>detail</th></tr>\n";
  const size_t kMaxRows = 5000;
  for (size_t i = 0; i < m.tasks.size() && i < kMaxRows; ++i) {
    const TaskMetrics& t = m.tasks[i];
    std::string state = TaskStateName(t.state);
    std::string exit, job, detail = t.skip_reason;
    if (!t.attempts.empty()) {
      exit = std::to_string(t.attempts.back().exit_code);
      job = t.attempts.back().job_id;
      if (detail.empty()) detail = t.attempts.back().detail;
    }
    h += "<tr><td><code>" + HtmlEscape(t.id) + "</code></td><td>" + HtmlEscape(t.title) +
         "</td><td><span class=\"pill\" style=\"background:" + StateColour(state) + "\">" + state +
         "</span></td><td>" + std::to_string(t.attempts.size()) + "</td><td>" +
         (t.attempts.empty() ? "" : HtmlEscape(FormatDuration(t.start))) + "</td><td>" +
         (t.attempts.empty() ? "" : HtmlEscape(FormatDuration(t.duration))) + "</td><td>" + exit +
         "</td><td>" + (t.tokens ? Fixed(t.cost_usd, "$%.4f") : "") + "</td><td>" +
         (t.tokens ? std::to_string(t.tokens) : "") + "</td><td><code>" + HtmlEscape(job) +
         "</code></td><td>" + HtmlEscape(detail) +
         "</td></tr>\n";
  }
  h += "</table>\n";
  if (m.tasks.size() > kMaxRows) {
    h += "<p class=\"note\">" + std::to_string(m.tasks.size() - kMaxRows) +
         " more tasks: see metrics.json.</p>\n";
  }
  h += "<p class=\"note\">Generated by porch. Data: metrics.json and journal.log beside this "
       "file.</p>\n</body></html>\n";
  return h;
}

}  // namespace porch
