#include "exec/command_line.h"

#include <cctype>
#include <cstring>

namespace porch {

std::optional<std::vector<std::string>> SplitSimpleCommand(const std::string& command) {
  static const char* const kShellWords[] = {
      ".",      ":",      "[",      "[[",     "]]",    "!",     "{",        "}",
      "alias",  "bg",     "break",  "case",   "cd",    "command", "continue", "do",
      "done",   "echo",   "elif",   "else",   "esac",  "eval",  "exec",     "exit",
      "export", "false",  "fc",     "fg",     "fi",    "for",   "function", "getopts",
      "hash",   "if",     "in",     "jobs",   "kill",  "local", "printf",   "pwd",
      "read",   "readonly", "return", "select", "set",  "shift", "source",  "test",
      "then",   "times",  "trap",   "true",   "type",  "ulimit", "umask",   "unalias",
      "unset",  "until",  "wait",   "while"};
  std::vector<std::string> words;
  std::string word;
  for (char c : command) {
    bool plain = std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_./=:,+@%-", c);
    if (c == ' ' || c == '\t') {
      if (!word.empty()) words.push_back(std::move(word));
      word.clear();
    } else if (plain && c != '\0') {
      word += c;
    } else {
      return std::nullopt;  // anything the shell would interpret
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  if (words.empty() || words[0].find('=') != std::string::npos) return std::nullopt;
  for (const char* w : kShellWords) {
    if (words[0] == w) return std::nullopt;
  }
  return words;
}

}  // namespace porch
