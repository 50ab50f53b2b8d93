#include "tbms/auth/signing.h"

#include "tbms/common/names.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <array>
#include <charconv>
#include <stdexcept>

#include "tbms/common/names.h"

namespace tbms {
namespace {

constexpr std::string_view kFormat =
    "Authorization must be 'TBMS-HMAC-SHA256 Credential=<access id>, Timestamp=<unix seconds>, "
    "Nonce=<nonce>, Signature=<hex>' (docs/security.md)";

std::string Hex(const unsigned char* bytes, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

bool AllOf(std::string_view s, bool (*ok)(char)) {
  for (char c : s) {
    if (!ok(c)) return false;
  }
  return true;
}
bool Alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }
bool NonceChar(char c) { return Alnum(c) || c == '_' || c == '-'; }
bool LowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool Digit(char c) { return c >= '0' && c <= '9'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}


// Checks each field once it is read; the message names the field.
Status CheckFields(Credentials* c) {
  if (!IsValidName(c->access_id)) {
    return Unauthenticated("Credential must be an access id of 1-128 characters of [A-Za-z0-9._-]");
  }
  if (c->timestamp.empty() || c->timestamp.size() > 12 || !AllOf(c->timestamp, Digit)) {
    return Unauthenticated("Timestamp must be unix seconds (1-12 digits)");
  }
  std::from_chars(c->timestamp.data(), c->timestamp.data() + c->timestamp.size(), c->timestamp_s);
  if (c->nonce.size() < 8 || c->nonce.size() > 64 || !AllOf(c->nonce, NonceChar)) {
    return Unauthenticated("Nonce must be 8-64 characters of [A-Za-z0-9_-]");
  }
  if (c->signature.size() != 64 || !AllOf(c->signature, LowerHex)) {
    return Unauthenticated("Signature must be 64 lower-case hex digits");
  }
  return OkStatus();
}

}  // namespace

StatusOr<Credentials> ParseAuthorization(std::string_view header) {
  if (header.empty()) {
    return Unauthenticated("missing Authorization header: sign requests with an access id and key "
                           "(docs/security.md)");
  }
  if (!header.starts_with(kAuthScheme) || header.size() == kAuthScheme.size() ||
      header[kAuthScheme.size()] != ' ') {
    return Unauthenticated(std::string(kFormat));
  }
  Credentials c;
  std::string_view rest = header.substr(kAuthScheme.size() + 1);
  int seen = 0;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view field = Trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const size_t eq = field.find('=');
    if (eq == std::string_view::npos) return Unauthenticated(std::string(kFormat));
    const std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    std::string_view* slot = name == "Credential" ? &c.access_id
                             : name == "Timestamp" ? &c.timestamp
                             : name == "Nonce"     ? &c.nonce
                             : name == "Signature" ? &c.signature
                                                   : nullptr;
    if (slot == nullptr || !slot->empty() || value.empty()) return Unauthenticated(std::string(kFormat));
    *slot = value;
    ++seen;
  }
  if (seen != 4) return Unauthenticated(std::string(kFormat));
  if (Status s = CheckFields(&c); !s.ok()) return s;
  return c;
}

std::string BodyHash(std::string_view body) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int n = 0;
  EVP_Digest(body.data(), body.size(), digest.data(), &n, EVP_sha256(), nullptr);
  return Hex(digest.data(), n);
}

std::string StringToSign(std::string_view method, std::string_view target, std::string_view timestamp,
                         std::string_view nonce, std::string_view body_hash) {
  std::string out;
  out.reserve(kAuthScheme.size() + method.size() + target.size() + timestamp.size() + nonce.size() +
              body_hash.size() + 5);
  for (std::string_view line : {kAuthScheme, method, target, timestamp, nonce}) {
    out.append(line);
    out += '\n';
  }
  out.append(body_hash);
  return out;
}

std::string Sign(std::string_view secret, std::string_view message) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int n = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(), &n);
  return Hex(mac.data(), n);
}

std::string NewNonce() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    // No entropy is a broken machine; a nonce must never repeat.
    throw std::runtime_error("OpenSSL RAND_bytes failed");
  }
  return Hex(bytes.data(), bytes.size());
}

std::string AuthorizationHeader(const AccessKey& key, std::string_view method, std::string_view target,
                                std::string_view body, int64_t timestamp_s, std::string_view nonce) {
  const std::string timestamp = std::to_string(timestamp_s);
  const std::string signature = Sign(key.secret, StringToSign(method, target, timestamp, nonce, BodyHash(body)));
  std::string out(kAuthScheme);
  out += " Credential=" + key.id + ", Timestamp=" + timestamp + ", Nonce=";
  out.append(nonce);
  out += ", Signature=" + signature;
  return out;
}

}  // namespace tbms
