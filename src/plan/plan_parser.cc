#include "plan/plan_parser.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/strings.h"
#include "plan/diagnostic.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

// MAX_ARG_STRLEN on Linux: the longest single argument execve takes (a
// command goes to `sh -c` as one, a prompt to the agent as one).
constexpr size_t kMaxFieldBytes = 128 * 1024 - 1;
constexpr double kMaxTimeLimitSeconds = 366 * 86400.0;
// YAML aliases expand into copies: a plan may grow by this factor over its
// text (plus a little) before porch calls it an alias bomb.
constexpr size_t kYamlExpansionFactor = 4;
constexpr size_t kYamlExpansionSlack = 1 << 16;
constexpr int kYamlMaxDepth = 64;
constexpr size_t kMaxYamlBytes = 4u << 20;

const std::set<std::string>& TopLevelKeys() {
  static const std::set<std::string> keys = {"name", "requirements", "tasks", "version"};
  return keys;
}
const std::set<std::string>& TaskKeys() {
  static const std::set<std::string> keys = {"id",        "title",   "prompt",  "command",
                                             "depends_on", "resources", "retries", "outputs",
                                             "acceptance"};
  return keys;
}
const std::set<std::string>& ResourceKeys() {
  static const std::set<std::string> keys = {"cpus", "memory", "gpus", "time_limit"};
  return keys;
}

const char* TypeName(const json& j) {
  switch (j.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    case json::value_t::number_float: return "a number";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "a list";
    case json::value_t::object: return "a mapping";
    default: return "a value";
  }
}

// Reads one task object. Problems go to `diags` with the task's line.
class TaskReader {
 public:
  TaskReader(int line, std::vector<Diagnostic>* diags) : line_(line), diags_(diags) {}

  Task Read(const json& j) {
    Task t;
    t.line = line_;
    if (!j.is_object()) {
      Error(std::string("a task must be a mapping, found ") + TypeName(j));
      return t;
    }
    t.id = String(j, "id", /*numbers=*/true);
    where_ = t.id.empty() ? "task" : "task '" + t.id + "'";
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!TaskKeys().count(it.key())) {
        Error("unknown task field '" + it.key() + "' (known: id, title, prompt, command, " +
              "depends_on, resources, retries, outputs, acceptance)");
      }
    }
    if (!j.contains("id")) Error("task has no 'id'");
    t.title = String(j, "title");
    t.prompt = String(j, "prompt");
    t.command = String(j, "command");
    t.acceptance = String(j, "acceptance");
    t.depends_on = StringList(j, "depends_on");
    t.outputs = StringList(j, "outputs");
    t.outputs_declared = j.contains("outputs");
    if (j.contains("retries")) {
      const json& r = j["retries"];
      if (!r.is_number_integer() || r.get<long long>() < 0 || r.get<long long>() > 100) {
        Error("'retries' must be an integer from 0 to 100, found " + r.dump());
      } else {
        t.retries = r.get<int>();
      }
    }
    if (j.contains("resources")) ReadResources(j["resources"], &t.resources);
    return t;
  }

 private:
  void Error(const std::string& msg) {
    diags_->push_back({line_, where_.empty() ? msg : where_ + ": " + msg});
  }

  // A string field. `numbers`: an integer is taken as its digits (ids like
  // 1, 2). Text is checked: no NUL byte (the OS would cut the command
  // there), and no longer than one argument may be (the OS refuses more).
  std::string String(const json& j, const char* key, bool numbers = false) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return "";
    if (numbers && it->is_number_integer()) return it->dump();
    if (!it->is_string()) {
      Error(std::string("'") + key + "' must be a string, found " + TypeName(*it) +
            " (quote it)");
      return "";
    }
    std::string s = it->get<std::string>();
    if (s.find('\0') != std::string::npos) {
      Error(std::string("'") + key + "' contains a NUL byte");
      return "";
    }
    if (s.size() > kMaxFieldBytes) {
      Error(std::string("'") + key + "' is " + std::to_string(s.size()) +
            " bytes; the OS takes at most " + std::to_string(kMaxFieldBytes) +
            " in one argument (put long scripts in a file and run that)");
      return "";
    }
    return s;
  }

  std::vector<std::string> StringList(const json& j, const char* key) {
    std::vector<std::string> out;
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return out;
    if (it->is_string()) return {it->get<std::string>()};  // a single item is allowed
    if (!it->is_array()) {
      Error(std::string("'") + key + "' must be a list of strings, found " + TypeName(*it));
      return out;
    }
    for (const json& item : *it) {
      if (item.is_string() && item.get<std::string>().find('\0') != std::string::npos) {
        Error(std::string("'") + key + "' holds a string with a NUL byte");
      } else if (item.is_string()) {
        out.push_back(item.get<std::string>());
      } else if (item.is_number_integer()) {
        out.push_back(item.dump());
      } else {
        Error(std::string("'") + key + "' must hold strings, found " + TypeName(item));
      }
    }
    return out;
  }

  void ReadResources(const json& r, Resources* res) {
    if (r.is_null()) return;
    if (!r.is_object()) {
      Error(std::string("'resources' must be a mapping, found ") + TypeName(r));
      return;
    }
    for (auto it = r.begin(); it != r.end(); ++it) {
      if (!ResourceKeys().count(it.key())) {
        Error("unknown resource '" + it.key() + "' (known: cpus, memory, gpus, time_limit)");
      }
    }
    res->cpus = Count(r, "cpus", 4096);
    res->gpus = Count(r, "gpus", 64);
    if (auto it = r.find("memory"); it != r.end() && !it->is_null()) {
      std::optional<uint64_t> bytes;
      if (it->is_number_unsigned() || it->is_number_integer()) {
        // Counted in MiB; a count whose bytes do not fit 64 bits is refused.
        if (it->get<long long>() > 0 && it->get<uint64_t>() <= (UINT64_MAX >> 20)) {
          bytes = it->get<uint64_t>() << 20;
        }
      } else if (it->is_string()) {
        bytes = ParseMemory(it->get<std::string>());
      }
      if (!bytes || *bytes == 0) {
        Error("'resources.memory' must be a positive size like 512M or 4G, found " + it->dump());
      } else {
        res->memory_bytes = *bytes;
      }
    }
    if (auto it = r.find("time_limit"); it != r.end() && !it->is_null()) {
      std::optional<double> secs;
      if (it->is_number()) {
        secs = it->get<double>();
      } else if (it->is_string()) {
        secs = ParseDuration(it->get<std::string>());
      }
      if (!secs || !(*secs > 0) || *secs > kMaxTimeLimitSeconds) {
        Error("'resources.time_limit' must be a positive duration up to a year, like 90, 30s, "
              "10m, 01:00:00 or 2-00:00:00, found " + it->dump());
      } else {
        res->time_limit_s = *secs;
      }
    }
  }

  int Count(const json& r, const char* key, int max) {
    auto it = r.find(key);
    if (it == r.end() || it->is_null()) return 0;
    if (!it->is_number_integer() || it->get<long long>() < 0 || it->get<long long>() > max) {
      Error(std::string("'resources.") + key + "' must be an integer from 0 to " +
            std::to_string(max) + ", found " + it->dump());
      return 0;
    }
    return it->get<int>();
  }

  int line_;
  std::vector<Diagnostic>* diags_;
  std::string where_;
};

int LineAt(std::string_view text, size_t offset) {
  int line = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) line += text[i] == '\n';
  return line;
}

void ReadTopLevel(const json& top, Plan* plan, std::vector<Diagnostic>* diags) {
  for (auto it = top.begin(); it != top.end(); ++it) {
    if (it.key() == "tasks") continue;
    if (!TopLevelKeys().count(it.key())) {
      diags->push_back({0, "unknown top-level field '" + it.key() +
                               "' (known: name, requirements, tasks, version)"});
    }
  }
  auto str = [&](const char* key) -> std::string {
    auto it = top.find(key);
    if (it == top.end() || it->is_null()) return "";
    if (!it->is_string()) {
      diags->push_back({0, std::string("'") + key + "' must be a string"});
      return "";
    }
    return it->get<std::string>();
  };
  plan->name = str("name");
  plan->requirements = str("requirements");
}

// ---- JSON: streaming ----

// An input iterator that publishes how far the parser has read, so the SAX
// handler can tell where each task starts.
struct TrackingIterator {
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  const char* p = nullptr;
  const char** cursor = nullptr;

  reference operator*() const { return *p; }
  TrackingIterator& operator++() {
    ++p;
    *cursor = p;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator old = *this;
    ++*this;
    return old;
  }
  bool operator==(const TrackingIterator& o) const { return p == o.p; }
  bool operator!=(const TrackingIterator& o) const { return p != o.p; }
};

// Builds a document tree for everything except the elements of the top-level
// "tasks" array: each of those is handed to TaskReader as soon as it closes
// and then dropped, so memory stays proportional to one task.
class PlanSax : public nlohmann::json_sax<json> {
 public:
  PlanSax(std::string_view text, const char** cursor, Plan* plan, std::vector<Diagnostic>* diags)
      : text_(text), cursor_(cursor), plan_(plan), diags_(diags) {}

  bool null() override { return Value(nullptr); }
  bool boolean(bool v) override { return Value(v); }
  bool number_integer(number_integer_t v) override { return Value(v); }
  bool number_unsigned(number_unsigned_t v) override { return Value(v); }
  bool number_float(number_float_t v, const string_t&) override { return Value(v); }
  bool string(string_t& v) override { return Value(std::move(v)); }
  bool binary(binary_t& v) override { return Value(json::binary(std::move(v))); }

  bool start_object(std::size_t) override {
    if (InTasksArray()) task_offset_ = static_cast<size_t>(*cursor_ - text_.data());
    Push(json::object());
    return true;
  }
  bool end_object() override { return Pop(); }
  bool start_array(std::size_t) override {
    Push(json::array());
    return true;
  }
  bool end_array() override { return Pop(); }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    std::string what = ex.what();
    // nlohmann's text: "[json.exception.parse_error.101] parse error at line 3, column 5: ..."
    size_t colon = what.find(": ");
    if (colon != std::string::npos) what = what.substr(colon + 2);
    diags_->push_back({LineAt(text_, position), "invalid JSON: " + what});
    return false;
  }

  json& root() { return root_; }
  bool tasks_seen() const { return tasks_seen_; }

 private:
  // JSON allows a key twice and parsers keep the last; a plan must not.
  void CheckDuplicate(const json& object) {
    if (!object.contains(key_)) return;
    diags_->push_back({LineAt(text_, static_cast<size_t>(*cursor_ - text_.data())),
                       "duplicate key '" + key_ + "' (the first one would be ignored)"});
  }

  // True when the next value is an element of root["tasks"].
  bool InTasksArray() const { return stack_.size() == 2 && stack_[1] == tasks_; }

  void Push(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      stack_.push_back(&root_);
      return;
    }
    json* parent = stack_.back();
    json* child;
    if (parent->is_object()) {
      CheckDuplicate(*parent);
      child = &(*parent)[key_];
      *child = std::move(value);
      if (stack_.size() == 1 && key_ == "tasks") {
        tasks_seen_ = true;
        if (child->is_array()) tasks_ = child;
      }
    } else {
      parent->push_back(std::move(value));
      child = &parent->back();
    }
    stack_.push_back(child);
  }

  bool Value(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return true;
    }
    json* parent = stack_.back();
    if (parent->is_object()) {
      CheckDuplicate(*parent);
      if (stack_.size() == 1 && key_ == "tasks") tasks_seen_ = true;
      (*parent)[key_] = std::move(value);
    } else if (parent == tasks_) {
      // A scalar where a task should be: let TaskReader report it.
      int line = LineAt(text_, static_cast<size_t>(*cursor_ - text_.data()));
      plan_->tasks.push_back(TaskReader(line, diags_).Read(value));
    } else {
      parent->push_back(std::move(value));
    }
    return true;
  }

  bool Pop() {
    json* done = stack_.back();
    stack_.pop_back();
    if (!stack_.empty() && stack_.back() == tasks_ && tasks_ != nullptr) {
      // Count newlines incrementally: tasks arrive in file order.
      for (size_t i = line_cache_offset_; i < task_offset_; ++i) line_cache_ += text_[i] == '\n';
      line_cache_offset_ = task_offset_;
      plan_->tasks.push_back(TaskReader(line_cache_, diags_).Read(*done));
      tasks_->erase(tasks_->size() - 1);
    }
    return true;
  }

  std::string_view text_;
  const char** cursor_;
  Plan* plan_;
  std::vector<Diagnostic>* diags_;
  json root_;
  std::vector<json*> stack_;
  json* tasks_ = nullptr;
  bool tasks_seen_ = false;
  std::string key_;
  size_t task_offset_ = 0;
  size_t line_cache_offset_ = 0;
  int line_cache_ = 1;
};

void ParseJson(std::string_view text, Plan* plan, std::vector<Diagnostic>* diags) {
  const char* cursor = text.data();
  TrackingIterator first{text.data(), &cursor};
  TrackingIterator last{text.data() + text.size(), &cursor};
  PlanSax sax(text, &cursor, plan, diags);
  bool ok = json::sax_parse(first, last, &sax);
  if (!ok) return;  // parse_error recorded it
  json& root = sax.root();
  if (!root.is_object()) {
    diags->push_back({1, std::string("a plan must be a mapping with a 'tasks' list, found ") +
                             TypeName(root)});
    return;
  }
  ReadTopLevel(root, plan, diags);
  if (!sax.tasks_seen()) {
    diags->push_back({0, "the plan has no 'tasks' list"});
  } else if (!root["tasks"].is_array()) {
    diags->push_back({0, std::string("'tasks' must be a list, found ") + TypeName(root["tasks"])});
  }
}

// ---- YAML ----

// yaml-cpp resolves aliases to shared nodes: converting the graph to a tree
// copies them. A budget (nodes and scalar bytes, proportional to the text)
// stops alias bombs, and the path of nodes being converted stops an alias
// that contains itself.
class YamlConverter {
 public:
  YamlConverter(size_t text_size, std::vector<Diagnostic>* diags)
      : budget_(text_size * kYamlExpansionFactor + kYamlExpansionSlack), diags_(diags) {}

  // Null after an error (reported once).
  std::optional<json> Convert(const YAML::Node& node) {
    if (failed_) return std::nullopt;
    if (path_.size() >= static_cast<size_t>(kYamlMaxDepth)) {
      return Fail(node, "the YAML nests deeper than " + std::to_string(kYamlMaxDepth) + " levels");
    }
    for (const YAML::Node& up : path_) {
      if (up.is(node)) return Fail(node, "a YAML alias contains itself (a cycle)");
    }
    if (++spent_ > budget_) return Fail(node, AliasBomb());
    path_.push_back(node);
    std::optional<json> out = ConvertHere(node);
    path_.pop_back();
    return out;
  }

 private:
  std::optional<json> ConvertHere(const YAML::Node& node) {
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined: return json(nullptr);
      case YAML::NodeType::Sequence: {
        json arr = json::array();
        for (const auto& item : node) {
          std::optional<json> v = Convert(item);
          if (!v) return std::nullopt;
          arr.push_back(std::move(*v));
        }
        return arr;
      }
      case YAML::NodeType::Map: {
        json obj = json::object();
        for (const auto& kv : node) {
          const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
          if (FindInvalidUtf8(key) != std::string::npos) return Fail(kv.first, NotUtf8());
          if (obj.contains(key)) {
            return Fail(kv.first, "duplicate key '" + key + "' (the first one would be ignored)");
          }
          std::optional<json> v = Convert(kv.second);
          if (!v) return std::nullopt;
          obj[key] = std::move(*v);
        }
        return obj;
      }
      case YAML::NodeType::Scalar: return Scalar(node);
    }
    return json(nullptr);
  }

  std::optional<json> Scalar(const YAML::Node& node) {
    const std::string& s = node.Scalar();
    spent_ += s.size() / 16;  // long strings count against the budget too
    if (spent_ > budget_) return Fail(node, AliasBomb());
    if (FindInvalidUtf8(s) != std::string::npos) return Fail(node, NotUtf8());
    if (node.Tag() == "!") return json(s);  // quoted: always a string
    if (s == "~" || s == "null" || s == "Null" || s == "NULL") return json(nullptr);
    if (s == "true" || s == "True" || s == "TRUE") return json(true);
    if (s == "false" || s == "False" || s == "FALSE") return json(false);
    if (!s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-')) {
      json number = json::parse(s, nullptr, /*allow_exceptions=*/false);
      if (number.is_number()) return number;
    }
    return json(s);
  }

  // The text is UTF-8, but a double-quoted escape ("\xA0") is a raw byte
  // to yaml-cpp.
  static std::string NotUtf8() { return "a string is not UTF-8 text (an escape such as \\xNN?)"; }

  std::string AliasBomb() const {
    return "the YAML expands to far more than its text (aliases that repeat aliases?); "
           "porch stops at " + std::to_string(budget_) + " nodes";
  }

  std::optional<json> Fail(const YAML::Node& at, const std::string& why) {
    if (!failed_) diags_->push_back({at.Mark().is_null() ? 0 : at.Mark().line + 1, why});
    failed_ = true;
    return std::nullopt;
  }

  size_t budget_;
  size_t spent_ = 0;
  bool failed_ = false;
  std::vector<YAML::Node> path_;
  std::vector<Diagnostic>* diags_;
};

// Events are ignored: only where documents start matters.
class DocumentStarts : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override { line = mark.line + 1; }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
  int line = 0;
};

// The line where a second YAML document starts, or 0 when there is one.
// Not YAML::LoadAll: on some malformed input (found by fuzzing, kept in
// tests/data/fuzz/plan) it finds empty documents forever. A second document
// needs a "---" or "..." marker at the start of a line, so a text without
// one is not parsed again; with one, at most two documents are read.
int SecondDocumentLine(std::string_view text) {
  bool marker = false;
  for (size_t pos = 0; pos < text.size() && !marker;) {
    std::string_view line = text.substr(pos);
    marker = line.rfind("---", 0) == 0 || line.rfind("...", 0) == 0;
    const size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  if (!marker) return 0;
  std::istringstream in{std::string(text)};
  YAML::Parser parser(in);
  DocumentStarts starts;
  if (!parser.HandleNextDocument(starts)) return 0;
  starts.line = 0;
  if (!parser.HandleNextDocument(starts)) return 0;
  return std::max(starts.line, 1);
}

void ParseYaml(std::string_view text, Plan* plan, std::vector<Diagnostic>* diags) {
  if (text.size() > kMaxYamlBytes) {
    // yaml-cpp reads a few MB a second; a plan this large is read as JSON
    // (streamed, one pass) instead.
    diags->push_back({0, "a YAML plan may be at most " + std::to_string(kMaxYamlBytes >> 20) +
                             " MiB (this one is " + std::to_string(text.size()) +
                             " bytes); write large plans as JSON"});
    return;
  }
  if (size_t bad = FindInvalidUtf8(text); bad != std::string_view::npos) {
    const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + bad, '\n'));
    diags->push_back({line, "byte " + std::to_string(bad) + " is not UTF-8 (plans are UTF-8 text)"});
    return;
  }
  YAML::Node root;
  int second_document = 0;
  try {
    root = YAML::Load(std::string(text));
    second_document = SecondDocumentLine(text);
  } catch (const YAML::DeepRecursion& e) {
    diags->push_back({e.mark.is_null() ? 0 : e.mark.line + 1,
                      "the YAML nests too deeply (" + std::to_string(e.depth()) +
                          " levels and more)"});
    return;
  } catch (const YAML::Exception& e) {
    diags->push_back({e.mark.is_null() ? 0 : e.mark.line + 1, "invalid YAML: " + e.msg});
    return;
  }
  if (second_document > 0) {
    diags->push_back({second_document,
                      "the file holds more than one YAML document; a plan is one ('---' starts another)"});
    return;
  }
  if (!root.IsMap()) {
    diags->push_back({1, "a plan must be a mapping with a 'tasks' list"});
    return;
  }
  YamlConverter convert(text.size(), diags);
  std::optional<json> top = convert.Convert(root);
  if (!top) return;
  ReadTopLevel(*top, plan, diags);
  if (!top->contains("tasks")) {
    diags->push_back({0, "the plan has no 'tasks' list"});
    return;
  }
  YAML::Node tasks = root["tasks"];
  if (!tasks.IsSequence()) {
    diags->push_back({tasks.Mark().line + 1, "'tasks' must be a list"});
    return;
  }
  size_t k = 0;
  for (const auto& node : tasks) {
    plan->tasks.push_back(TaskReader(node.Mark().line + 1, diags).Read((*top)["tasks"][k++]));
  }
}

}  // namespace

Task ReadTaskJson(const json& value, int line, std::vector<Diagnostic>* diags) {
  return TaskReader(line, diags).Read(value);
}

Result<Plan> ParsePlan(std::string_view text, const std::string& source, PlanFormat format) {
  if (format == PlanFormat::kAuto) {
    size_t i = 0;
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
    format = (i < text.size() && text[i] == '{') ? PlanFormat::kJson : PlanFormat::kYaml;
  }
  Plan plan;
  plan.source = source;
  std::vector<Diagnostic> diags;
  if (format == PlanFormat::kJson) {
    ParseJson(text, &plan, &diags);
  } else {
    ParseYaml(text, &plan, &diags);
  }
  PORCH_RETURN_IF_ERROR(DiagnosticsToStatus(source, diags));
  return plan;
}

Result<Plan> LoadPlanFile(const std::string& path, uint64_t max_bytes) {
  Result<std::string> text = ReadUserFile(path, max_bytes, "plan", "raise limits.max_plan_bytes");
  if (!text.ok()) return text.status();
  PlanFormat format = PlanFormat::kAuto;
  if (path.size() >= 5 && path.substr(path.size() - 5) == ".json") format = PlanFormat::kJson;
  if ((path.size() >= 5 && path.substr(path.size() - 5) == ".yaml") ||
      (path.size() >= 4 && path.substr(path.size() - 4) == ".yml")) {
    format = PlanFormat::kYaml;
  }
  return ParsePlan(*text, path, format);
}

json PlanToJson(const Plan& plan) {
  json tasks = json::array();
  for (const Task& t : plan.tasks) {
    json jt = {{"id", t.id}};
    if (!t.title.empty()) jt["title"] = t.title;
    if (!t.prompt.empty()) jt["prompt"] = t.prompt;
    if (!t.command.empty()) jt["command"] = t.command;
    if (!t.depends_on.empty()) jt["depends_on"] = t.depends_on;
    json res = json::object();
    if (t.resources.cpus) res["cpus"] = t.resources.cpus;
    if (t.resources.memory_bytes) res["memory"] = FormatMemory(t.resources.memory_bytes);
    if (t.resources.gpus) res["gpus"] = t.resources.gpus;
    if (t.resources.time_limit_s > 0) res["time_limit"] = t.resources.time_limit_s;
    if (!res.empty()) jt["resources"] = res;
    if (t.retries) jt["retries"] = *t.retries;
    if (t.outputs_declared || !t.outputs.empty()) jt["outputs"] = t.outputs;
    if (!t.acceptance.empty()) jt["acceptance"] = t.acceptance;
    tasks.push_back(std::move(jt));
  }
  json out = json::object();
  if (!plan.name.empty()) out["name"] = plan.name;
  if (!plan.requirements.empty()) out["requirements"] = plan.requirements;
  out["tasks"] = std::move(tasks);
  return out;
}

std::string PlanToJsonText(const Plan& plan) { return PlanToJson(plan).dump(1) + "\n"; }

}  // namespace porch
