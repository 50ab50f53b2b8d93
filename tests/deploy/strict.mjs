// Unknown fields of a Kubernetes object, as the API server's strict field
// validation would refuse them. The schema package's validators accept any
// extra field (Kubernetes' OpenAPI leaves objects open), but its type
// declarations (.d.ts) list every field: this reads them, one small parser
// of the TypeScript type syntax they use, and walks the object along them.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const modules = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules");

// The schema package's module for an apiVersion: the core group in
// kubernetes-models/v1, the others under their group.
export function schemaModule(apiVersion) {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  const pkg = group === "monitoring.coreos.com" ? "@kubernetes-models/prometheus-operator"
    : group.endsWith(".istio.io") ? "@kubernetes-models/istio" : "kubernetes-models";
  return `${pkg}/${apiVersion}`;
}

// The declaration file of an object's kind, as the schema package lays them out.
function kindFile(apiVersion, kind) {
  return path.join(modules, schemaModule(apiVersion), `${kind}.d.ts`);
}

export function unknownFields(object) {
  const errors = [];
  walk(object, { ref: `I${object.kind}`, file: kindFile(object.apiVersion, object.kind) }, "", errors);
  return errors;
}

// Where the declarations intersect or unite object types (the CRDs' oneOf
// rules), a field is known when any of them declares it: this finds
// misspelt and misplaced fields, not every schema rule (validate() does those).
function walk(value, type, where, errors) {
  if (value === null || typeof value !== "object") return;
  const t = flatten(type);
  if (Array.isArray(value)) {
    value.forEach((v, i) => walk(v, { union: t.arrays }, `${where}[${i}]`, errors));
    return;
  }
  if (t.props.size === 0 && t.index.length === 0) return; // an open object: nothing declared to check against
  for (const [key, v] of Object.entries(value)) {
    const at = where ? `${where}.${key}` : key;
    const field = t.props.get(key) ?? t.index;
    if (field.length) walk(v, { union: field }, at, errors);
    else errors.push(at);
  }
}

// A type as what it allows: fields (name -> their types), index signatures, array elements.
function flatten(type, into = { props: new Map(), index: [], arrays: [] }, seen = new Set()) {
  if (seen.has(type)) return into;
  seen.add(type);
  if (type.ref) return flatten(resolve(type.ref, type.file), into, seen);
  for (const member of type.union ?? []) flatten(member, into, seen);
  if (type.array) into.arrays.push(type.array);
  if (type.index) into.index.push(type.index);
  for (const [name, t] of type.props ?? []) into.props.set(name, [...(into.props.get(name) ?? []), t]);
  return into;
}

// --- declarations: name -> type, per file

const files = new Map();

function declarations(file) {
  if (files.has(file)) return files.get(file);
  const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const d = { local: new Map(), aliases: new Map(), imports: new Map(), text };
  for (const m of text.matchAll(/import \{([^}]*)\} from "([^"]+)"/g)) {
    for (const name of m[1].split(",").map((s) => s.trim()).filter(Boolean)) d.imports.set(name, target(file, m[2]));
  }
  for (const m of text.matchAll(/export type \{([^}]*)\}/g)) {
    for (const pair of m[1].split(",")) {
      const [from, as] = pair.split(" as ").map((s) => s.trim());
      if (as) d.aliases.set(as, from);
    }
  }
  files.set(file, d);
  return d;
}

function target(file, spec) {
  const base = spec.startsWith(".") ? path.resolve(path.dirname(file), spec) : path.join(modules, spec);
  return base.replace(/\.js$/, "") + ".d.ts";
}

function resolve(name, file) {
  const d = declarations(file);
  if (d.local.has(name)) return d.local.get(name);
  if (d.aliases.has(name)) return resolve(d.aliases.get(name), file);
  if (d.imports.has(name)) return resolve(name, d.imports.get(name));
  const decl = new RegExp(`(?:interface ${name}\\b[^{]*(?=\\{)|type ${name} = )`).exec(d.text);
  if (!decl) return {}; // a name from elsewhere (the base Model): no fields to check
  const parser = new Parser(d.text, decl.index + decl[0].length, file);
  const type = parser.type();
  d.local.set(name, type);
  return type;
}

// --- the type syntax of the declarations

class Parser {
  constructor(text, at, file) {
    this.tokens = [...text.slice(at).matchAll(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z_$][\w$.]*|-?\d+(?:\.\d+)?|=>|\S/g)].map((m) => m[0]);
    this.i = 0;
    this.file = file;
  }
  peek() { return this.tokens[this.i]; }
  next() { return this.tokens[this.i++]; }
  eat(t) { if (this.peek() === t) { this.i++; return true; } return false; }

  // Unions and intersections alike: a field is known if any part declares it.
  type() {
    this.eat("|") || this.eat("&");
    const parts = [this.postfix()];
    while (this.eat("|") || this.eat("&")) parts.push(this.postfix());
    return parts.length === 1 ? parts[0] : { union: parts };
  }
  postfix() {
    let t = this.primary();
    while (this.peek() === "[" && this.tokens[this.i + 1] === "]") { this.i += 2; t = { array: t }; }
    return t;
  }
  primary() {
    const t = this.next();
    if (t === "{") return this.object();
    if (t === "(") { const inner = this.type(); this.eat(")"); return inner; }
    if (this.eat("<")) { // Array<T>, or Exclude<T, U> and its kin: T
      const args = [this.type()];
      while (this.eat(",")) args.push(this.type());
      this.eat(">");
      return t === "Array" ? { array: args[0] } : args[0];
    }
    if (/^I[A-Z]\w*$/.test(t)) return { ref: t, file: this.file };
    return {}; // string, number, boolean, a literal: nothing inside to check
  }
  object() {
    const props = new Map();
    let index;
    while (!this.eat("}")) {
      if (this.eat("[")) { // [key: string]: T
        while (!this.eat("]")) this.next();
        this.eat(":");
        index = this.type();
      } else {
        const name = this.next().replace(/^["']|["']$/g, "");
        this.eat("?");
        if (!this.eat(":")) { this.skipMember(); continue; } // a method or constructor: not a field
        props.set(name, this.type());
      }
      this.eat(";") || this.eat(",");
    }
    return { props, index };
  }
  skipMember() {
    let depth = 0;
    for (let t = this.peek(); t !== undefined; t = this.peek()) {
      if (depth === 0 && (t === ";" || t === "}")) return;
      if (t === "(" || t === "{" || t === "<") depth++;
      if (t === ")" || t === "}" || t === ">") depth--;
      this.next();
    }
  }
}
