#include "keys.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <optional>

#include "tbms/common/names.h"

namespace tbms::house_detail {
namespace {

namespace fs = std::filesystem;

constexpr size_t kMinSecret = 16;
constexpr size_t kMaxSecret = 4096;
constexpr size_t kMaxKeys = 64;  // per instance

// A secret read whole: one line, a trailing newline ignored. `where` names
// the file or variable in messages; the secret is never shown.
std::optional<std::string> Checked(std::string secret, const std::string& where, const toml::node& at, Diag& diag) {
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.size() < kMinSecret) {
    diag.At(at.source(), where + " holds a secret shorter than " + std::to_string(kMinSecret) + " bytes");
    return std::nullopt;
  }
  if (secret.find_first_of(std::string_view("\n\r\0", 3)) != std::string::npos) {
    diag.At(at.source(), where + " must hold one line (the secret)");
    return std::nullopt;
  }
  return secret;
}

std::optional<AccessKey> ReadKey(const toml::node& node, const std::string& instance, KeyReader& reader,
                                 Diag& diag) {
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    WrongType(node, "an item of 'keys'", "a table { id = ..., secret_file = ... }", diag);
    return std::nullopt;
  }
  Fields f(*table, "a key", diag);
  f.AllowOnly({"id", "secret_file", "secret_env"});
  AccessKey key;
  key.instance = instance;
  if (!f.Require("id")) return std::nullopt;
  const std::optional<std::string> id = f.String("id");
  if (!id) return std::nullopt;  // wrong type, reported
  key.id = *id;
  if (!IsValidName(key.id)) {
    diag.At(f.Get("id")->source(), "bad access id '" + key.id + "' (" + std::string(kNameRule) + ")");
    return std::nullopt;
  }
  if (!reader.ids.insert(key.id).second) {
    diag.At(f.Get("id")->source(), "access id '" + key.id + "' is used twice");
    return std::nullopt;
  }
  if (f.Has("secret_file") == f.Has("secret_env")) {
    diag.At(node.source(), "key '" + key.id + "' needs exactly one of 'secret_file' and 'secret_env'");
    return std::nullopt;
  }
  std::optional<std::string> secret;
  const auto file = f.String("secret_file");
  const auto env = f.String("secret_env");
  if (!file && !env) return std::nullopt;  // wrong type, reported
  if (!reader.read_secrets) return key;     // declared where it should be: enough for this check
  if (file) secret = SecretFromFile(*file, reader.house, *f.Get("secret_file"), diag);
  if (env) secret = SecretFromEnv(*env, *f.Get("secret_env"), diag);
  if (!secret) return std::nullopt;
  key.secret = std::move(*secret);
  return key;
}

}  // namespace

std::optional<std::string> SecretFromFile(const std::string& name, const fs::path& house, const toml::node& at,
                                          Diag& diag) {
  const fs::path path = fs::path(name).is_absolute() ? fs::path(name) : house / name;
  const std::string where = "secret_file '" + path.string() + "'";
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    diag.At(at.source(), where + " is not a readable file");
    return std::nullopt;
  }
  if ((st.st_mode & 077) != 0) {
    diag.At(at.source(), where + " may be read by group or others: chmod 600 it");
    return std::nullopt;
  }
  std::ifstream in(path, std::ios::binary);
  std::string secret(kMaxSecret + 1, '\0');  // at most one byte too many: enough to refuse it
  in.read(secret.data(), static_cast<std::streamsize>(secret.size()));
  if (in.bad() || (in.fail() && !in.eof())) {
    diag.At(at.source(), where + " cannot be read");
    return std::nullopt;
  }
  secret.resize(static_cast<size_t>(in.gcount()));
  if (secret.size() > kMaxSecret) {
    diag.At(at.source(), where + " is larger than " + std::to_string(kMaxSecret) + " bytes");
    return std::nullopt;
  }
  return Checked(std::move(secret), where, at, diag);
}

std::optional<std::string> SecretFromEnv(const std::string& name, const toml::node& at, Diag& diag) {
  const std::string where = "secret_env '" + name + "'";
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) {
    diag.At(at.source(), where + " is not set in the environment");
    return std::nullopt;
  }
  return Checked(value, where, at, diag);
}


std::vector<AccessKey> KeyReader::Read(const toml::array& list, const std::string& instance, Diag& diag) {
  std::vector<AccessKey> keys;
  if (list.size() > kMaxKeys) {
    diag.At(list.source(), "more than " + std::to_string(kMaxKeys) + " keys");
    return keys;
  }
  for (const toml::node& node : list) {
    if (auto key = ReadKey(node, instance, *this, diag)) keys.push_back(std::move(*key));
  }
  return keys;
}

}  // namespace tbms::house_detail
