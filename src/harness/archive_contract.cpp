#include "harness/archive_contract.hpp"

#include <algorithm>
#include <variant>

#include "core/error.hpp"

namespace attnbench::harness {

std::string to_string(KeyRole r) {
  switch (r) {
    case KeyRole::point: return "point";
    case KeyRole::tuning: return "tuning";
    case KeyRole::run: return "run";
    case KeyRole::result: return "result";
  }
  return "result";
}

std::vector<std::string> problem_keys(const KernelSpec& k) {
  std::vector<std::string> keys;
  for (const auto& key : k.archive_keys)
    if (key.group == "/" && (key.role == KeyRole::point || key.role == KeyRole::tuning)) keys.push_back(key.name);
  return keys;
}

namespace {

std::string_view trimmed(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::vector<ArchiveKey> parse_archive_contract(std::string_view table, std::string_view source) {
  static const std::vector<std::string_view> kTypes = {"int64", "uint64", "float64", "string", "dataset"};
  std::vector<ArchiveKey> keys;
  std::int64_t line_no = 0;
  while (!table.empty()) {
    const std::size_t eol = table.find('\n');
    const std::string_view line = trimmed(table.substr(0, eol));
    table.remove_prefix(eol == std::string_view::npos ? table.size() : eol + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const auto where = [&] { return std::string(source) + ":" + std::to_string(line_no) + ": "; };
    // Seven ';'-separated fields, then the help (the rest of the line, which may hold ';').
    std::vector<std::string_view> f;
    std::string_view rest = line;
    for (int i = 0; i < 7; ++i) {
      const std::size_t sep = rest.find(';');
      if (sep == std::string_view::npos)
        throw internal_error(where() + "expected 8 fields (group; name; type; role; algorithms; when; default; help)");
      f.push_back(trimmed(rest.substr(0, sep)));
      rest.remove_prefix(sep + 1);
    }
    ArchiveKey k;
    k.group = f[0];
    k.name = f[1];
    k.type = f[2];
    k.help = trimmed(rest);
    if (k.group.empty() || k.group.front() != '/' || k.name.empty())
      throw internal_error(where() + "a key needs a group (starting with '/') and a name");
    for (std::string_view alt = f[2]; !alt.empty();) {
      const std::size_t bar = alt.find('|');
      if (std::find(kTypes.begin(), kTypes.end(), alt.substr(0, bar)) == kTypes.end())
        throw internal_error(where() + "unknown type '" + std::string(f[2]) + "'");
      alt.remove_prefix(bar == std::string_view::npos ? alt.size() : bar + 1);
    }
    bool known_role = false;
    for (const KeyRole r : {KeyRole::point, KeyRole::tuning, KeyRole::run, KeyRole::result})
      if (to_string(r) == f[3]) {
        k.role = r;
        known_role = true;
      }
    if (!known_role) throw internal_error(where() + "unknown role '" + std::string(f[3]) + "'");
    for (std::string_view a = f[4]; !a.empty();) {
      const std::size_t comma = a.find(',');
      k.algorithms.emplace_back(trimmed(a.substr(0, comma)));
      a.remove_prefix(comma == std::string_view::npos ? a.size() : comma + 1);
    }
    k.when = f[5];
    k.default_value = f[6];
    keys.push_back(std::move(k));
  }
  return keys;
}

const std::vector<ArchiveKey>& common_archive_keys() {
  static const std::vector<ArchiveKey> keys = archive_frame_keys();  // harness/archive_frame.txt
  return keys;
}

namespace {

bool applies(const ArchiveKey& key, const std::string& algorithm, const std::string& group, const std::string& name) {
  if (key.group != group) return false;
  if (!key.algorithms.empty() && std::find(key.algorithms.begin(), key.algorithms.end(), algorithm) == key.algorithms.end())
    return false;
  if (!key.name.empty() && key.name.back() == '*')
    return name.compare(0, key.name.size() - 1, key.name, 0, key.name.size() - 1) == 0;
  return key.name == name;
}

bool type_ok(const std::string& declared, const std::string& actual) {
  std::size_t start = 0;
  while (start <= declared.size()) {
    const std::size_t end = std::min(declared.find('|', start), declared.size());
    if (declared.compare(start, end - start, actual) == 0) return true;
    start = end + 1;
  }
  return false;
}

std::string type_of(const AttrValue& v) {
  static const char* names[] = {"int64", "uint64", "float64", "string"};
  return names[v.index()];
}

// Collects "group/name (type)" entries the contract does not declare; throws them all at once.
class Violations {
 public:
  Violations(const KernelSpec& k, const std::string& algorithm) : k_(k), algorithm_(algorithm) {}
  void check(const std::string& group, const std::string& name, const std::string& type) {
    const ArchiveKey* key = declared_key(k_, algorithm_, group, name);
    const std::string full = (group == "/" ? "/" : group + "/") + name;
    if (key == nullptr)
      list_ += "\n  " + full + " (" + type + "): not declared";
    else if (!type_ok(key->type, type))
      list_ += "\n  " + full + ": " + type + ", declared " + key->type;
  }
  void raise_if_any() const {
    if (list_.empty()) return;
    throw internal_error("the " + k_.name + " kernel wrote keys its archive contract (KernelSpec::archive_keys) "
                         "does not declare for --algo " + algorithm_ + ":" + list_);
  }

 private:
  const KernelSpec& k_;
  const std::string& algorithm_;
  std::string list_;
};

}  // namespace

const ArchiveKey* declared_key(const KernelSpec& k, const std::string& algorithm, const std::string& group,
                               const std::string& name) {
  for (const auto* keys : {&common_archive_keys(), &k.archive_keys})
    for (const auto& key : *keys)
      if (applies(key, algorithm, group, name)) return &key;
  return nullptr;
}

void check_record(const KernelSpec& k, const RunRecord& rec) {
  Violations v(k, rec.algorithm);
  for (const auto& [group, values] : {std::pair{"/", &rec.problem}, std::pair{"/parameters", &rec.parameters},
                                      std::pair{"/metrics", &rec.metrics}, std::pair{"/validation", &rec.validation}})
    for (const auto& [name, value] : *values) v.check(group, name, type_of(value));
  v.raise_if_any();
}

void check_archive(const KernelSpec& k, const std::string& algorithm, const io::File::Contents& contents) {
  Violations v(k, algorithm);
  for (const auto& [object, attrs] : contents.attributes)
    for (const auto& [name, type] : attrs) v.check(object, name, type);
  for (const auto& path : contents.datasets) {
    const auto slash = path.rfind('/');
    v.check(slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1), "dataset");
  }
  v.raise_if_any();
}

}  // namespace attnbench::harness
