#include "plan/validate.h"

#include <unordered_map>
#include <unordered_set>

#include "plan/dag.h"

namespace porch {

std::string CheckTaskId(const std::string& id) {
  if (id.empty()) return "task id is empty";
  if (id.size() > 128) return "task id is longer than 128 characters";
  if (id == "." || id == "..") return "task id '" + id + "' is not allowed";
  for (unsigned char c : id) {
    if (c == '/') return "task id '" + id + "' contains '/'";
    if (c < 0x20 || c == 0x7f) return "task id '" + id + "' contains a control character";
  }
  return "";
}

std::string CheckOutputPath(const std::string& path) {
  if (path.empty()) return "an output path is empty";
  if (path.front() == '/') return "output '" + path + "' is absolute; use a path relative to the project";
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return "output '" + path + "' contains '..'";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (unsigned char c : path) {
    if (c < 0x20) return "output '" + path + "' contains a control character";
  }
  return "";
}

std::vector<Diagnostic> CheckPlan(const Plan& plan) {
  std::vector<Diagnostic> diags;
  if (plan.tasks.empty()) {
    diags.push_back({0, "the plan has no tasks"});
    return diags;
  }
  std::unordered_map<std::string_view, const Task*> seen;
  seen.reserve(plan.tasks.size());
  std::unordered_map<std::string_view, const Task*> output_owner;
  for (const Task& t : plan.tasks) {
    std::string where = "task '" + t.id + "'";
    if (std::string why = CheckTaskId(t.id); !why.empty()) diags.push_back({t.line, why});
    auto [it, inserted] = seen.emplace(t.id, &t);
    if (!inserted && !t.id.empty()) {
      std::string first = it->second->line ? " (first defined on line " +
                                                  std::to_string(it->second->line) + ")"
                                            : "";
      diags.push_back({t.line, "duplicate task id '" + t.id + "'" + first});
    }
    if (t.prompt.empty() == t.command.empty()) {
      diags.push_back({t.line, where + ": set exactly one of 'prompt' (an AI task) or "
                                       "'command' (a shell command)"});
    }
    std::unordered_set<std::string_view> deps;
    for (const std::string& d : t.depends_on) {
      if (d == t.id) diags.push_back({t.line, where + " depends on itself"});
      if (!deps.insert(d).second) {
        diags.push_back({t.line, where + " lists dependency '" + d + "' twice"});
      }
    }
    std::unordered_set<std::string_view> outs;
    for (const std::string& o : t.outputs) {
      if (std::string why = CheckOutputPath(o); !why.empty()) {
        diags.push_back({t.line, where + ": " + why});
        continue;
      }
      if (!outs.insert(o).second) continue;
      auto [owner, fresh] = output_owner.emplace(o, &t);
      if (!fresh) {
        diags.push_back({t.line, where + ": output '" + o + "' is already owned by task '" +
                                     owner->second->id + "'"});
      }
    }
  }
  Dag dag(plan);
  for (const auto& u : dag.unknown_deps()) {
    const Task& t = plan.tasks[u.task];
    diags.push_back({t.line, "task '" + t.id + "' depends on unknown task '" + u.name + "'"});
  }
  // Self-dependencies were reported above; a cycle through them adds nothing.
  std::vector<Dag::Index> cycle = dag.FindCycle();
  if (cycle.size() > 1) {
    std::string text;
    for (Dag::Index i : cycle) text += plan.tasks[i].id + " -> ";
    text += plan.tasks[cycle.front()].id;
    diags.push_back({plan.tasks[cycle.front()].line, "dependency cycle: " + text});
  }
  return diags;
}

Status ValidatePlan(const Plan& plan) {
  return DiagnosticsToStatus(plan.source.empty() ? "plan" : plan.source, CheckPlan(plan));
}

}  // namespace porch
