#include "plan/validate.h"

#include <unordered_map>
#include <unordered_set>

#include "plan/dag.h"

namespace porch {

namespace {
constexpr size_t kMaxIdLength = 128;
}  // namespace

Status CheckId(const std::string& id, const std::string& kind) {
  auto bad = [&](const std::string& why) { return Status::InvalidArgument(kind + " " + why); };
  if (id.empty()) return bad("is empty");
  if (id.size() > kMaxIdLength) return bad("is longer than " + std::to_string(kMaxIdLength) + " characters");
  if (id == "." || id == "..") return bad("'" + id + "' is not allowed");
  for (unsigned char c : id) {
    if (c == '/') return bad("'" + id + "' contains '/'");
    if (c < 0x20 || c == 0x7f) return bad("'" + id + "' contains a control character");
  }
  return Status::Ok();
}

Status CheckOutputPath(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("an output path is empty");
  if (path.front() == '/') {
    return Status::InvalidArgument("output '" + path +
                                   "' is absolute; use a path relative to the project");
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "..") return Status::InvalidArgument("output '" + path + "' contains '..'");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  for (unsigned char c : path) {
    if (c < 0x20) return Status::InvalidArgument("output '" + path + "' contains a control character");
  }
  return Status::Ok();
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
    if (Status st = CheckId(t.id); !st.ok()) diags.push_back({t.line, st.message()});
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
      if (Status st = CheckOutputPath(o); !st.ok()) {
        diags.push_back({t.line, where + ": " + st.message()});
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
