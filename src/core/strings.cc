#include "core/strings.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace porch {

namespace {

std::optional<double> ParseNumber(std::string_view text) {
  if (text.empty()) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size()) return std::nullopt;
  if (!std::isfinite(value)) return std::nullopt;
  return value;
}

std::optional<long> ParseInt(std::string_view text) {
  if (text.empty()) return std::nullopt;
  long value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<double> ParseDuration(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  if (text.find(':') != std::string_view::npos) {
    // [D-]HH:MM:SS or MM:SS (SLURM's forms).
    long days = 0;
    size_t dash = text.find('-');
    if (dash != std::string_view::npos) {
      auto d = ParseInt(text.substr(0, dash));
      if (!d) return std::nullopt;
      days = *d;
      text = text.substr(dash + 1);
    }
    std::vector<long> parts;
    while (true) {
      size_t colon = text.find(':');
      auto part = ParseInt(text.substr(0, colon));
      if (!part) return std::nullopt;
      parts.push_back(*part);
      if (colon == std::string_view::npos) break;
      text = text.substr(colon + 1);
    }
    double secs = 0;
    // Minutes and seconds below 60, hours below 24 when days are given
    // (SLURM's own rules): "99-99:99:99" is not a duration.
    for (long p : parts) {
      if (p < 0) return std::nullopt;
    }
    if (parts.size() == 2) {
      if (parts[1] >= 60) return std::nullopt;
      secs = parts[0] * 60.0 + parts[1];
    } else if (parts.size() == 3) {
      if (parts[1] >= 60 || parts[2] >= 60 || (dash != std::string_view::npos && parts[0] >= 24)) {
        return std::nullopt;
      }
      secs = parts[0] * 3600.0 + parts[1] * 60.0 + parts[2];
    } else {
      return std::nullopt;
    }
    if (days < 0) return std::nullopt;
    return days * 86400.0 + secs;
  }
  double mult = 1;
  switch (std::tolower(static_cast<unsigned char>(text.back()))) {
    case 's': mult = 1; text.remove_suffix(1); break;
    case 'm': mult = 60; text.remove_suffix(1); break;
    case 'h': mult = 3600; text.remove_suffix(1); break;
    case 'd': mult = 86400; text.remove_suffix(1); break;
    default: break;
  }
  auto value = ParseNumber(text);
  if (!value || *value < 0 || !std::isfinite(*value * mult)) return std::nullopt;
  return *value * mult;
}

std::optional<uint64_t> ParseMemory(std::string_view text) {
  text = Trim(text);
  if (text.empty()) return std::nullopt;
  auto lower = [](char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); };
  // Strip "ib" / "b".
  if (text.size() >= 2 && lower(text.back()) == 'b' && lower(text[text.size() - 2]) == 'i') {
    text.remove_suffix(2);
  } else if (text.size() >= 2 && lower(text.back()) == 'b' &&
             std::isalpha(static_cast<unsigned char>(text[text.size() - 2]))) {
    text.remove_suffix(1);
  }
  if (text.empty()) return std::nullopt;
  double mult = 1024.0 * 1024.0;  // bare numbers are MiB, as in SLURM's --mem
  switch (lower(text.back())) {
    case 'k': mult = 1024.0; text.remove_suffix(1); break;
    case 'm': mult = 1024.0 * 1024; text.remove_suffix(1); break;
    case 'g': mult = 1024.0 * 1024 * 1024; text.remove_suffix(1); break;
    case 't': mult = 1024.0 * 1024 * 1024 * 1024; text.remove_suffix(1); break;
    case 'b': mult = 1; text.remove_suffix(1); break;
    default: break;
  }
  auto value = ParseNumber(Trim(text));
  if (!value || *value < 0) return std::nullopt;
  double bytes = *value * mult;
  if (bytes > 1.8e19) return std::nullopt;
  return static_cast<uint64_t>(std::llround(bytes));
}

std::string FormatDuration(double seconds) {
  char buf[64];
  if (seconds < 10) {
    std::snprintf(buf, sizeof buf, "%.2fs", seconds);
    return buf;
  }
  if (seconds < 60) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  long total = std::lround(seconds);
  long h = total / 3600, m = (total % 3600) / 60, s = total % 60;
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%ldh%02ldm%02lds", h, m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%ldm%02lds", m, s);
  }
  return buf;
}

std::string FormatSlurmTime(double seconds) {
  long total = static_cast<long>(std::ceil(seconds));
  long d = total / 86400, h = (total % 86400) / 3600, m = (total % 3600) / 60, s = total % 60;
  char buf[64];
  if (d > 0) {
    std::snprintf(buf, sizeof buf, "%ld-%02ld:%02ld:%02ld", d, h, m, s);
  } else {
    std::snprintf(buf, sizeof buf, "%02ld:%02ld:%02ld", h, m, s);
  }
  return buf;
}

std::string FormatMemory(uint64_t bytes) {
  const uint64_t kMiB = 1024ull * 1024, kGiB = kMiB * 1024;
  if (bytes >= kGiB && bytes % kGiB == 0) return std::to_string(bytes / kGiB) + "G";
  return std::to_string((bytes + kMiB - 1) / kMiB) + "M";
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

size_t FindInvalidUtf8(std::string_view text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if ((c & 0xe0) == 0xc0) {
      len = 2, cp = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3, cp = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return i;
    }
    if (i + len > n) return i;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace porch
