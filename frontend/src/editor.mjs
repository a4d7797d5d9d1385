// The sheet editor: CodeMirror 6 with the sheet language, live diagnostics,
// completions and hover docs. Built by ../build.sh into
// sheets/static/sheets/editor.js as the global `SheetEditor`.
//
// Everything the editor knows about the language's names comes from the
// catalogue handed to create() (orchestration.language.catalogue.catalogue_json()),
// so the editor cannot drift from the parser. The lexical rules below follow
// orchestration/language/tokens.py.

import { EditorState, Compartment, StateEffect, StateField } from "@codemirror/state";
import {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLineGutter,
  highlightSpecialChars,
  drawSelection,
  dropCursor,
  rectangularSelection,
  crosshairCursor,
  highlightActiveLine,
  hoverTooltip,
} from "@codemirror/view";
import {
  StreamLanguage,
  HighlightStyle,
  syntaxHighlighting,
  syntaxTree,
  bracketMatching,
  indentUnit,
} from "@codemirror/language";
import { defaultKeymap, history, historyKeymap, indentLess, indentMore } from "@codemirror/commands";
import { searchKeymap, highlightSelectionMatches, openSearchPanel, gotoLine } from "@codemirror/search";
import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  insertCompletionText,
  pickedCompletion,
} from "@codemirror/autocomplete";
import { linter, lintGutter, lintKeymap, setDiagnostics, forEachDiagnostic } from "@codemirror/lint";
import { oneDark } from "@codemirror/theme-one-dark";
import { tags, Tag, tagHighlighter } from "@lezer/highlight";

// ------------------------------------------------------------------ helpers

const NAME_START = /[\p{L}_]/u;
const NAME_CHAR = /[\p{L}\p{N}_]/u;
// A bare, possibly dotted name (tokens.py `_word`).
const WORD = /^[\p{L}_][\p{L}\p{N}_]*(?:\.[\p{L}_][\p{L}\p{N}_]*)*/u;
const STRUCTURAL = new Set(["scope", "option", "action", "data", "with", "fulfillment"]);

function escapeRegExp(text) {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

// Python counts columns in code points, JavaScript strings in UTF-16 units.
function columnToOffset(text, column) {
  let offset = 0;
  let remaining = Math.max(0, (column | 0) - 1);
  while (remaining > 0 && offset < text.length) {
    const code = text.charCodeAt(offset);
    offset += code >= 0xd800 && code < 0xdc00 && offset + 1 < text.length ? 2 : 1;
    remaining--;
  }
  return offset;
}

function lineAt(doc, lineNumber) {
  const number = Math.min(Math.max(1, Number(lineNumber) || 1), doc.lines);
  return doc.line(number);
}

function position(doc, lineNumber, column) {
  const line = lineAt(doc, lineNumber);
  return line.from + columnToOffset(line.text, Number(column) || 1);
}

// ------------------------------------------------------------------ catalogue

function buildCatalogue(raw) {
  const catalogue = raw || {};
  const scopes = Array.isArray(catalogue.scopes) ? catalogue.scopes : [];
  const properties = Array.isArray(catalogue.properties) ? catalogue.properties : [];
  const options = catalogue.options || {};
  const actions = catalogue.actions || {};
  const dataKeys = catalogue.data_keys || {};
  const keywords = Array.isArray(catalogue.keywords) ? catalogue.keywords.map((k) => String(k).toLowerCase()) : [];

  const exact = new Map();
  const wildcards = new Map(); // "Order.CustomFields" -> property
  for (const property of properties) {
    if (property.path.endsWith(".*")) wildcards.set(property.path.slice(0, -2), property);
    else exact.set(property.path, property);
  }
  const byLower = (names) => {
    const map = new Map();
    for (const name of names) map.set(name.toLowerCase(), name);
    return map;
  };
  const single = new Set(keywords.filter((k) => !k.includes(" ")));
  // Compound keywords, longest first ("has no value" before "has value"), as tokens.py tries them.
  const compound = keywords
    .filter((k) => k.includes(" "))
    .map((k) => k.split(/\s+/))
    .sort((a, b) => b.length - a.length)
    .map((words) => ({
      text: words.join(" "),
      first: words[0],
      rest: new RegExp(
        "^" + words.slice(1).map((w) => "[ \\t]+" + escapeRegExp(w) + "(?![\\p{L}\\p{N}_])").join("") + "(?!\\.[\\p{L}_])",
        "iu",
      ),
    }));

  return {
    scopes,
    properties,
    options,
    actions,
    dataKeys,
    keywords,
    single,
    compound,
    scopeNames: byLower(scopes),
    optionNames: byLower(Object.keys(options)),
    actionNames: byLower(Object.keys(actions)),
    // The property a path names: exact and case-sensitive; a wildcard entry
    // matches any name below it (catalogue.lookup).
    lookup(path) {
      const found = exact.get(path);
      if (found) return found;
      const parts = path.split(".");
      for (let length = parts.length - 1; length > 0; length--) {
        const wildcard = wildcards.get(parts.slice(0, length).join("."));
        if (wildcard) return wildcard;
      }
      return null;
    },
  };
}

// How a catalogue keyword is shown. Presentation only: a word is a keyword
// only if the catalogue lists it.
function keywordStyle(text) {
  if (text === "true" || text === "false") return "bool";
  if (text === "nothing" || text === "null") return "null";
  if (/^(and|or|not|in|contains)$/.test(text) || /^(has|not) /.test(text)) return "operatorKeyword";
  return "keyword";
}

// ------------------------------------------------------------------ highlighting

const unknownName = Tag.define(tags.variableName);

// Stable class names next to the theme's, for the templates' CSS and the browser tests.
const stableClasses = tagHighlighter([
  { tag: tags.keyword, class: "cm-sheet-keyword" },
  { tag: tags.operatorKeyword, class: "cm-sheet-keyword cm-sheet-operator" },
  { tag: tags.operator, class: "cm-sheet-operator" },
  { tag: [tags.bool, tags.null], class: "cm-sheet-atom" },
  { tag: tags.lineComment, class: "cm-sheet-comment" },
  { tag: tags.string, class: "cm-sheet-string" },
  { tag: tags.special(tags.string), class: "cm-sheet-string cm-sheet-template" },
  { tag: tags.number, class: "cm-sheet-number" },
  { tag: tags.standard(tags.variableName), class: "cm-sheet-variable cm-sheet-known" },
  { tag: tags.special(tags.variableName), class: "cm-sheet-variable cm-sheet-datakey" },
  { tag: tags.local(tags.variableName), class: "cm-sheet-variable cm-sheet-local" },
  { tag: tags.definition(tags.variableName), class: "cm-sheet-variable cm-sheet-definition" },
  { tag: unknownName, class: "cm-sheet-variable cm-sheet-unknown" },
  { tag: tags.namespace, class: "cm-sheet-scope" },
  { tag: tags.labelName, class: "cm-sheet-option" },
  { tag: tags.constant(tags.name), class: "cm-sheet-action" },
  { tag: tags.definition(tags.name), class: "cm-sheet-fulfillment" },
  { tag: tags.invalid, class: "cm-sheet-invalid" },
]);

const lightHighlight = HighlightStyle.define([
  { tag: tags.keyword, color: "#7a3e9d", fontWeight: "bold" },
  { tag: tags.operatorKeyword, color: "#7a3e9d" },
  { tag: tags.operator, color: "#5c6370" },
  { tag: [tags.bool, tags.null], color: "#b0521a" },
  { tag: tags.lineComment, color: "#6a737d", fontStyle: "italic" },
  { tag: tags.string, color: "#22863a" },
  { tag: tags.special(tags.string), color: "#1a7f64" },
  { tag: tags.brace, color: "#d73a49", fontWeight: "bold" },
  { tag: tags.number, color: "#005cc5" },
  { tag: tags.standard(tags.variableName), color: "#0b5cad" },
  { tag: tags.special(tags.variableName), color: "#8a4b00" },
  { tag: tags.local(tags.variableName), color: "#6f42c1" },
  { tag: tags.definition(tags.variableName), color: "#6f42c1", fontWeight: "bold" },
  { tag: unknownName, color: "#a3323b", textDecoration: "underline dotted" },
  { tag: tags.namespace, color: "#b35900", fontWeight: "bold" },
  { tag: tags.labelName, color: "#0e7490" },
  { tag: tags.constant(tags.name), color: "#b35900" },
  { tag: tags.definition(tags.name), color: "#24292e", fontWeight: "bold" },
  { tag: tags.invalid, color: "#cb2431", backgroundColor: "#ffeef0" },
]);

// One-dark styles everything else; it draws all names alike, so mark unknown ones.
const darkSupplement = HighlightStyle.define(
  [{ tag: unknownName, color: "#e06c75", textDecoration: "underline dotted" }],
  { themeType: "dark" },
);

function sheetLanguage(cat) {
  const classifyPath = (path, state) => {
    if (cat.lookup(path)) return "variableName.standard";
    if (state.names[path]) return "variableName.local";
    return "unknown";
  };

  // A name where the statement keyword before it gives it a meaning.
  const contextual = (state, word, isString) => {
    const ctx = state.ctx;
    state.ctx = null;
    const lowered = word.toLowerCase();
    switch (ctx) {
      case "scope":
        return cat.scopeNames.has(lowered) ? "namespace" : "unknown";
      case "option":
        return cat.optionNames.has(lowered) ? "labelName" : "unknown";
      case "action":
        return cat.actionNames.has(lowered) ? "name.constant" : "unknown";
      case "fulfillment":
        return isString ? null : "name.definition";
      case "data":
        declare(state, word);
        return Object.prototype.hasOwnProperty.call(cat.dataKeys, word) ? "variableName.special" : "variableName.definition";
      case "with":
        declare(state, word);
        return "variableName.definition";
      default:
        return null;
    }
  };

  const declare = (state, name) => {
    if (!state.names[name]) state.names = Object.assign({}, state.names, { [name]: true });
  };

  // String content up to the closing quote, a template's `{`, or the end of the line.
  const stringBody = (stream, state) => {
    const template = state.str === "template";
    let read = false;
    while (!stream.eol()) {
      const ch = stream.peek();
      if (template && ch === "{") {
        if (read) return "string.special";
        stream.next();
        state.depth = 1;
        return "brace";
      }
      stream.next();
      read = true;
      if (ch === "\\" && (stream.peek() === "'" || stream.peek() === "\\")) {
        stream.next();
      } else if (ch === "'") {
        state.str = null;
        break;
      }
    }
    return template ? "string.special" : "string";
  };

  // A quoted string inside a template's {...}: a backslash escapes anything.
  const innerString = (stream, state) => {
    while (!stream.eol()) {
      const ch = stream.next();
      if (ch === "\\") stream.next();
      else if (ch === "'") {
        state.inner = false;
        return "string";
      }
    }
    return "string";
  };

  const expression = (stream, state) => {
    const ch = stream.peek();
    if (ch === "#" || stream.match("//", false)) {
      stream.skipToEnd();
      return "lineComment";
    }
    if (state.ctx === "action") {
      const quoted = stream.match(/^'([\p{L}_][\p{L}\p{N}_]*)'/u);
      if (quoted) return contextual(state, quoted[1], true);
    }
    if (ch === "'") {
      stream.next();
      if (state.str === "template" && state.depth > 0) {
        state.inner = true;
        return innerString(stream, state);
      }
      state.ctx = null;
      state.str = "plain";
      return stringBody(stream, state);
    }
    if (ch === "$" && stream.match("$'")) {
      state.ctx = null;
      state.str = "template";
      state.depth = 0;
      return "string.special";
    }
    if (ch === "[") {
      const variable = stream.match(/^\[([^\]\n]*)\]/);
      if (!variable) {
        stream.skipToEnd();
        state.ctx = null;
        return "invalid";
      }
      const inner = variable[1].trim();
      if (!WORD.test(inner) || WORD.exec(inner)[0] !== inner) {
        state.ctx = null;
        return "invalid";
      }
      return contextual(state, inner, false) || classifyPath(inner, state);
    }
    if (/[0-9]/.test(ch)) {
      stream.match(/^[0-9]+(?:\.[0-9]+)?/);
      state.ctx = null;
      return "number";
    }
    if (NAME_START.test(ch)) {
      const word = stream.match(WORD)[0];
      const lowered = word.toLowerCase();
      if (state.ctx) {
        // `scope Fanout`: a scope name even where it is also a keyword.
        const style = contextual(state, word, false);
        if (style) return style;
      }
      for (const keyword of cat.compound) {
        if (lowered === keyword.first && stream.match(keyword.rest)) {
          state.ctx = null;
          return keywordStyle(keyword.text);
        }
      }
      if (cat.single.has(lowered)) {
        state.ctx = STRUCTURAL.has(lowered) ? lowered : null;
        return keywordStyle(lowered);
      }
      return classifyPath(word, state);
    }
    state.ctx = null;
    if (stream.match(/^(?:<>|<=|>=|[=<>+\-*/])/)) return "operator";
    stream.next();
    if (ch === "(" || ch === ")") return "paren";
    if (ch === ",") return "separator";
    return "invalid"; // curly quotes, backslashes and anything else tokens.py rejects
  };

  return StreamLanguage.define({
    name: "sheet",
    startState: () => ({ str: null, depth: 0, inner: false, ctx: null, names: {} }),
    copyState: (state) => Object.assign({}, state),
    token(stream, state) {
      if (state.inner) return innerString(stream, state);
      if (state.str && state.depth === 0) return stringBody(stream, state);
      if (stream.sol() && !state.str) state.ctx = null;
      if (stream.eatSpace()) return null;
      if (state.str === "template" && state.depth > 0) {
        const ch = stream.peek();
        if (ch === "{") {
          stream.next();
          state.depth++;
          return "brace";
        }
        if (ch === "}") {
          stream.next();
          state.depth--;
          return "brace";
        }
      }
      return expression(stream, state);
    },
    // `(` and `[` get their closing bracket as they are typed; quotes do not (a
    // reason's text has apostrophes, and `\'` inside a string must stay typable).
    languageData: { commentTokens: { line: "#" }, closeBrackets: { brackets: ["(", "["], before: ")]," } },
    tokenTable: { unknown: unknownName },
  });
}

// ------------------------------------------------------------------ document analysis

// The scope the line of `pos` is in: the nearest `scope X` at or above it.
function currentScope(state, pos, cat) {
  for (let number = state.doc.lineAt(pos).number; number >= 1; number--) {
    const match = /^\s*scope\s+([\p{L}_][\p{L}\p{N}_]*)/iu.exec(state.doc.line(number).text);
    if (match) return cat.scopeNames.get(match[1].toLowerCase()) || match[1];
  }
  return null;
}

// The sheet's own names: `with NAME as`, `with [NAME] as`, `data NAME as`.
function sheetNames(doc) {
  const names = new Map();
  const pattern = /^[ \t]*(with|data)[ \t]+(?:\[[ \t]*([\p{L}_][\p{L}\p{N}_.]*)[ \t]*\]|([\p{L}_][\p{L}\p{N}_.]*))[ \t]+as\b/gimu;
  const text = doc.toString();
  let match;
  while ((match = pattern.exec(text))) {
    const name = match[2] || match[3];
    if (!names.has(name)) names.set(name, match[1].toLowerCase());
  }
  return names;
}

function nodeNameAt(state, pos, side) {
  const node = syntaxTree(state).resolveInner(pos, side);
  return node ? node.name : "";
}

// The variable, name or word at `pos`: its span and text.
function wordAt(state, pos) {
  const line = state.doc.lineAt(pos);
  const text = line.text;
  const at = pos - line.from;
  const open = text.lastIndexOf("[", at);
  if (open >= 0) {
    const close = text.indexOf("]", open);
    if (close >= at && text.lastIndexOf("]", at - 1) < open) {
      return { from: line.from + open, to: line.from + close + 1, text: text.slice(open + 1, close).trim(), before: text.slice(0, open) };
    }
  }
  const isPathChar = (ch) => ch && (NAME_CHAR.test(ch) || ch === ".");
  let start = at;
  let end = at;
  while (start > 0 && isPathChar(text[start - 1])) start--;
  while (end < text.length && isPathChar(text[end])) end++;
  while (start < end && text[start] === ".") start++;
  while (end > start && text[end - 1] === ".") end--;
  if (start >= end || !NAME_START.test(text[start])) return null;
  if (at < start || at > end) return null;
  return { from: line.from + start, to: line.from + end, text: text.slice(start, end), before: text.slice(0, start) };
}

// ------------------------------------------------------------------ completions

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function ouLookupSource(ouLookupUrl) {
  const cache = new Map();
  const fetchUnits = async (query, signal) => {
    if (cache.has(query)) return cache.get(query);
    const url = ouLookupUrl + (ouLookupUrl.includes("?") ? "&" : "?") + "q=" + encodeURIComponent(query);
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" }, signal });
    if (!response.ok) throw new Error("organization unit lookup: HTTP " + response.status);
    const body = await response.json();
    const results = Array.isArray(body && body.results) ? body.results : [];
    cache.set(query, results);
    return results;
  };
  const OU_VAR = "(?:\\[[ \\t]*(?:Supplier|Order\\.SoldFromOrganizationUnit)\\.%[ \\t]*\\]|(?:Supplier|Order\\.SoldFromOrganizationUnit)\\.%)";
  const MEMBER = "[ \\t]+(?:[Nn][Oo][Tt][ \\t]+)?[Ii][Nn][ \\t]+";
  const stringItem = new RegExp(OU_VAR.replace(/%/g, "BackendID") + MEMBER + "(?:'[^'\\n]*'[ \\t]*,[ \\t]*)*(?:'([^'\\n]*))?$");
  const numberItem = new RegExp(OU_VAR.replace(/%/g, "ID") + MEMBER + "(?:[0-9]+[ \\t]*,[ \\t]*)*([0-9]*)$");

  return async (context) => {
    const line = context.state.doc.lineAt(context.pos);
    const before = line.text.slice(0, context.pos - line.from);
    let match = stringItem.exec(before);
    let numeric = false;
    if (!match) {
      match = numberItem.exec(before);
      numeric = true;
    }
    if (!match) return null;
    const typed = match[1] || "";
    const quoted = !numeric && match[1] !== undefined; // inside '...'
    if (!typed && !context.explicit && !quoted) return null;
    const controller = new AbortController();
    context.addEventListener("abort", () => controller.abort(), { onDocChange: true });
    if (!context.explicit) {
      await sleep(150); // typing fast: ask once it pauses
      if (context.aborted) return null;
    }
    let units;
    try {
      units = await fetchUnits(typed, controller.signal);
    } catch (error) {
      if (error && error.name !== "AbortError") console.error("SheetEditor:", error);
      return null;
    }
    const after = context.state.sliceDoc(context.pos, context.pos + 1);
    const options = units.map((unit, index) => {
      const label = numeric ? String(unit.id) : String(unit.backend_id);
      let apply = label;
      if (!numeric) apply = quoted ? label + (after === "'" ? "" : "'") : "'" + label + "'";
      return {
        label,
        apply,
        detail: numeric ? `${unit.backend_id} · ${unit.name}` : unit.name,
        info: unit.type ? `${unit.name} (${unit.type})` : undefined,
        type: "constant",
        boost: -index / 1000,
      };
    });
    return { from: context.pos - typed.length, options, filter: false };
  };
}

function propertyInfo(property) {
  const box = el("div", "cm-sheet-doc");
  const title = el("div", "cm-sheet-doc-title");
  title.append(el("strong", null, property.path), " ", el("code", "cm-sheet-doc-type", property.type));
  box.append(title);
  if (property.description) box.append(el("div", "cm-sheet-doc-description", property.description));
  if (property.scopes && property.scopes.length) {
    box.append(el("div", "cm-sheet-doc-scopes", "Scopes: " + property.scopes.join(", ")));
  }
  return box;
}

function optionInfo(option) {
  const box = el("div", "cm-sheet-doc");
  const title = el("div", "cm-sheet-doc-title");
  title.append(el("strong", null, "option " + option.name), " ", el("code", "cm-sheet-doc-type", option.type));
  box.append(title);
  if (option.description) box.append(el("div", "cm-sheet-doc-description", option.description));
  box.append(el("div", "cm-sheet-doc-default", "Default: " + JSON.stringify(option.default)));
  if (option.allowed && option.allowed.length) box.append(el("div", "cm-sheet-doc-allowed", "Allowed: " + option.allowed.join(", ")));
  return box;
}

function actionInfo(action) {
  const box = el("div", "cm-sheet-doc");
  const title = el("div", "cm-sheet-doc-title");
  title.append(el("strong", null, "action " + action.name));
  box.append(title);
  if (action.description) box.append(el("div", "cm-sheet-doc-description", action.description));
  const required = action.required_data || [];
  box.append(el("div", "cm-sheet-doc-required", "Required data: " + (required.length ? required.join(", ") : "none")));
  return box;
}

function dataKeyInfo(key) {
  const box = el("div", "cm-sheet-doc");
  const title = el("div", "cm-sheet-doc-title");
  title.append(el("strong", null, "data " + key.name), " ", el("code", "cm-sheet-doc-type", key.type));
  box.append(title);
  if (key.description) box.append(el("div", "cm-sheet-doc-description", key.description));
  return box;
}

// A name picked inside `[`: it replaces the whole name around the cursor (the part
// after the cursor too, as in `[Supplier.Ty|pe]`) and the `]` after it, if any, and
// writes the name and one `]`, the cursor after it. Decided when the completion is
// applied, not when it was listed: a `]` typed or auto-closed in between counts, so
// the bracket is never doubled (`[Supplier.Ty]` + Supplier.Type -> `[Supplier.Type]`).
function applyBracketed(label) {
  return (view, completion, from, to) => {
    const line = view.state.doc.lineAt(to);
    const rest = line.text.slice(to - line.from);
    const name = /^[\p{L}\p{N}_.]*/u.exec(rest)[0];
    const closed = /^[ \t]*\]/.exec(rest.slice(name.length));
    const end = to + name.length + (closed ? closed[0].length : 0);
    view.dispatch(insertCompletionText(view.state, label + "]", from, end), {
      annotations: pickedCompletion.of(completion),
      userEvent: "input.complete",
      effects: bracketCompleted.of(from + label.length + 1),
    });
  };
}

// The `]` a bracketed completion just wrote: a `]` typed right after it (out of
// habit) steps over it instead of adding a second one, as closeBrackets does for
// the brackets it inserts. Any other change or cursor move forgets it.
const bracketCompleted = StateEffect.define();
const completedBracket = StateField.define({
  create: () => -1,
  update(value, tr) {
    for (const effect of tr.effects) if (effect.is(bracketCompleted)) return effect.value;
    return tr.docChanged || tr.selection ? -1 : value;
  },
});
const stepOverCompletedBracket = [
  completedBracket,
  EditorView.inputHandler.of((view, from, to, text) => {
    if (text !== "]" || from !== to || view.state.field(completedBracket) !== from) return false;
    if (view.state.sliceDoc(from - 1, from) !== "]") return false;
    view.dispatch({ selection: { anchor: from }, effects: bracketCompleted.of(-1), userEvent: "select" });
    return true;
  }),
];

function sheetCompletions(cat) {
  const keywordOptions = cat.keywords.map((k) => ({ label: k, type: "keyword", boost: -1 }));
  const headerOptions = keywordOptions.filter((o) => ["fulfillment", "action", "option", "scope"].includes(o.label));
  const scopeOptions = cat.scopes.map((s) => ({ label: s, type: "namespace", detail: "scope" }));
  const optionOptions = Object.values(cat.options).map((o) => ({
    label: o.name,
    type: "property",
    detail: o.type,
    info: () => optionInfo(o),
  }));
  const actionOptions = Object.values(cat.actions).map((a) => ({ label: a.name, type: "constant", detail: "action", info: () => actionInfo(a) }));
  const dataOptions = Object.values(cat.dataKeys).map((d) => ({ label: d.name, type: "variable", detail: d.type, info: () => dataKeyInfo(d) }));
  const byScope = new Map();
  const propertyOptions = (scope) => {
    if (!byScope.has(scope)) {
      byScope.set(
        scope,
        cat.properties
          .filter((p) => p.scopes.includes(scope))
          .map((p) => {
            const wildcard = p.path.endsWith(".*");
            return {
              label: wildcard ? p.path.slice(0, -1) : p.path,
              type: "variable",
              detail: wildcard ? p.type + " (any name below)" : p.type,
              info: () => propertyInfo(p),
            };
          }),
      );
    }
    return byScope.get(scope);
  };
  const optionValues = (option) => {
    if (!option) return [];
    if (option.type === "boolean") return ["true", "false"].map((v) => ({ label: v, type: "keyword" }));
    return (option.allowed || []).map((v) => ({ label: `'${v}'`, type: "text" }));
  };

  return (context) => {
    const { state, pos } = context;
    const line = state.doc.lineAt(pos);
    const before = line.text.slice(0, pos - line.from);
    const node = nodeNameAt(state, pos, -1);
    if (/comment/i.test(node)) return null;

    let match;
    if ((match = /^\s*scope\s+([\p{L}\p{N}_]*)$/iu.exec(before))) {
      return { from: pos - match[1].length, options: scopeOptions, validFor: /^\w*$/ };
    }
    if ((match = /^\s*option\s+([\p{L}\p{N}_]*)$/iu.exec(before))) {
      return { from: pos - match[1].length, options: optionOptions, validFor: /^\w*$/ };
    }
    if ((match = /^\s*option\s+([\p{L}_][\p{L}\p{N}_]*)\s+as\s+(?:.*,\s*)?([\p{L}\p{N}_']*)$/iu.exec(before))) {
      const option = cat.options[cat.optionNames.get(match[1].toLowerCase())];
      const values = optionValues(option);
      return values.length ? { from: pos - match[2].length, options: values } : null;
    }
    if ((match = /^\s*action\s+'?([\p{L}\p{N}_]*)$/iu.exec(before))) {
      return { from: pos - match[1].length, options: actionOptions, validFor: /^\w*$/ };
    }
    if ((match = /^\s*data\s+\[?([\p{L}\p{N}_]*)$/iu.exec(before))) {
      return { from: pos - match[1].length, options: dataOptions, validFor: /^\w*$/ };
    }
    if (/^\s*(with|fulfillment)\s+\[?[\p{L}\p{N}_.]*$/iu.test(before)) return null; // a new name
    if (/string/i.test(node)) return null;

    match = /(\[?)([\p{L}_][\p{L}\p{N}_.]*|)$/u.exec(before);
    const bracketed = match[1] === "[";
    const typed = match[2];
    if (!typed && !bracketed && !context.explicit) return null;
    const scope = currentScope(state, pos, cat);
    const options = [];
    if (scope) {
      options.push(...propertyOptions(scope));
      for (const [name, kind] of sheetNames(state.doc)) {
        options.push({ label: name, type: "variable", detail: kind === "data" ? "data" : "with", boost: 1 });
      }
    }
    if (!bracketed) options.push(...(scope ? keywordOptions : headerOptions));
    if (!options.length) return null;
    // Inside `[`: the name and exactly one `]` (see applyBracketed).
    const result = bracketed ? options.map((o) => (o.label.endsWith(".") ? o : Object.assign({}, o, { apply: applyBracketed(o.label) }))) : options;
    return { from: pos - typed.length, options: result, validFor: /^[\p{L}\p{N}_.]*$/u };
  };
}

function sheetHover(cat) {
  return hoverTooltip((view, pos, side) => {
    const { state } = view;
    const node = nodeNameAt(state, pos, side);
    if (/comment/i.test(node)) return null;
    const word = wordAt(state, pos);
    if (!word || !word.text) return null;
    const context = /(?:^|\s)(scope|option|action|data|with|fulfillment)\s+'?$/i.exec(word.before);
    const keyword = context ? context[1].toLowerCase() : null;
    if (/string/i.test(node) && keyword !== "action") return null;
    let dom = null;
    if (keyword === "option") {
      const name = cat.optionNames.get(word.text.toLowerCase());
      if (name) dom = optionInfo(cat.options[name]);
    } else if (keyword === "action") {
      const name = cat.actionNames.get(word.text.toLowerCase());
      if (name) dom = actionInfo(cat.actions[name]);
    } else if (keyword === "scope") {
      const name = cat.scopeNames.get(word.text.toLowerCase());
      if (name) {
        dom = el("div", "cm-sheet-doc");
        dom.append(el("strong", null, "scope " + name));
        const count = cat.properties.filter((p) => p.scopes.includes(name)).length;
        dom.append(el("div", "cm-sheet-doc-description", `${count} variables readable here`));
      }
    } else {
      const property = cat.lookup(word.text);
      if (property) dom = propertyInfo(property);
      else if (Object.prototype.hasOwnProperty.call(cat.dataKeys, word.text)) dom = dataKeyInfo(cat.dataKeys[word.text]);
    }
    if (!dom) return null;
    return { pos: word.from, end: word.to, above: true, create: () => ({ dom }) };
  });
}

// ------------------------------------------------------------------ diagnostics

const SEVERITIES = new Set(["error", "warning", "info", "hint"]);

// One problem from the server as a CodeMirror diagnostic, clamped to the document.
function toDiagnostic(doc, problem) {
  const line = lineAt(doc, problem.line);
  const from = Math.min(line.from + columnToOffset(line.text, problem.column), line.to);
  let to;
  if (problem.end_line != null && problem.end_column != null) {
    to = position(doc, problem.end_line, problem.end_column);
  } else {
    // To the end of the token there, or of the line.
    const rest = line.text.slice(from - line.from);
    const token = /^(?:\[[^\]]*\]?|\$?'(?:\\.|[^'\\])*'?|[\p{L}\p{N}_.]+|<>|<=|>=|\S)/u.exec(rest);
    to = token ? from + token[0].length : line.to;
  }
  if (to <= from) to = Math.min(from + 1, doc.length);
  const severity = SEVERITIES.has(problem.severity) ? problem.severity : "error";
  const message = String(problem.message || problem.code || "problem");
  const hint = problem.hint ? String(problem.hint) : "";
  return {
    from,
    to: Math.max(from, to),
    severity,
    source: problem.code || undefined,
    message: hint ? message + "\n" + hint : message,
    renderMessage: () => {
      const box = el("span", "cm-sheet-problem");
      box.append(el("span", "cm-sheet-problem-message", message));
      if (hint) box.append(el("span", "cm-sheet-problem-hint", hint));
      return box;
    },
  };
}

// ------------------------------------------------------------------ the editor

const baseTheme = EditorView.theme({
  "&": { height: "100%", fontSize: "14px" },
  ".cm-scroller": { overflow: "auto", fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
  ".cm-sheet-doc": { maxWidth: "32em", padding: "4px 8px", lineHeight: "1.4" },
  ".cm-sheet-doc-title": { marginBottom: "2px" },
  ".cm-sheet-doc-type": { opacity: "0.75" },
  ".cm-sheet-doc-scopes, .cm-sheet-doc-default, .cm-sheet-doc-allowed, .cm-sheet-doc-required": {
    marginTop: "2px",
    fontSize: "90%",
    opacity: "0.8",
  },
  ".cm-sheet-problem-hint": { display: "block", fontStyle: "italic", opacity: "0.85" },
});

const lightExtensions = [syntaxHighlighting(lightHighlight)];
const darkExtensions = [oneDark, syntaxHighlighting(darkSupplement)];
const readOnlyExtensions = (readOnly) =>
  readOnly ? [EditorState.readOnly.of(true), EditorView.contentAttributes.of({ "aria-readonly": "true" })] : [];

// Tab inserts four spaces (indents the lines of a selection); Shift-Tab outdents.
const tabKeymap = [
  {
    key: "Tab",
    run: (view) => {
      if (view.state.readOnly) return false;
      if (view.state.selection.ranges.some((r) => !r.empty)) return indentMore(view);
      view.dispatch(view.state.replaceSelection("    "), { scrollIntoView: true, userEvent: "input" });
      return true;
    },
    shift: indentLess,
  },
];

function create(config) {
  const options = config || {};
  const cat = buildCatalogue(options.catalogue);
  const checkUrl = options.checkUrl || null;
  const fulfillment = typeof options.fulfillment === "function" ? options.fulfillment : () => "";
  const themeCompartment = new Compartment();
  const readOnlyCompartment = new Compartment();
  let view;

  // POST the source; the problems, or null when the request failed.
  const requestProblems = async (source) => {
    if (!checkUrl) return [];
    try {
      let identifier = "";
      try {
        identifier = fulfillment();
      } catch (error) {
        console.error("SheetEditor: fulfillment():", error);
      }
      const response = await fetch(checkUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          Accept: "application/json",
          "X-CSRFToken": options.csrfToken || "",
        },
        body: JSON.stringify({ source, fulfillment: identifier == null ? "" : String(identifier) }),
      });
      if (!response.ok) throw new Error("check failed: HTTP " + response.status);
      const body = await response.json();
      const problems = Array.isArray(body && body.problems) ? body.problems : [];
      if (typeof options.onDiagnostics === "function") {
        try {
          options.onDiagnostics(problems);
        } catch (error) {
          console.error("SheetEditor: onDiagnostics:", error);
        }
      }
      return problems;
    } catch (error) {
      console.error("SheetEditor:", error);
      return null;
    }
  };

  const currentDiagnostics = (state) => {
    const kept = [];
    forEachDiagnostic(state, (d, from, to) => kept.push(Object.assign({}, d, { from, to })));
    return kept;
  };

  const extensions = [
    lineNumbers(),
    highlightActiveLineGutter(),
    highlightSpecialChars(),
    history(),
    drawSelection(),
    dropCursor(),
    EditorState.allowMultipleSelections.of(true),
    EditorState.tabSize.of(4),
    indentUnit.of("    "),
    sheetLanguage(cat),
    syntaxHighlighting(stableClasses),
    bracketMatching(),
    rectangularSelection(),
    crosshairCursor(),
    highlightActiveLine(),
    highlightSelectionMatches(),
    autocompletion({
      override: options.ouLookupUrl ? [ouLookupSource(options.ouLookupUrl), sheetCompletions(cat)] : [sheetCompletions(cat)],
    }),
    sheetHover(cat),
    lintGutter(),
    stepOverCompletedBracket,
    closeBrackets(),
    keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...lintKeymap, ...tabKeymap]),
    baseTheme,
    themeCompartment.of(options.dark ? darkExtensions : lightExtensions),
    readOnlyCompartment.of(readOnlyExtensions(!!options.readOnly)),
    EditorView.updateListener.of((update) => {
      if (update.docChanged && typeof options.onChange === "function") {
        options.onChange(update.state.doc.toString());
      }
    }),
  ];
  if (checkUrl) {
    extensions.push(
      linter(
        async (v) => {
          const state = v.state;
          const problems = await requestProblems(state.doc.toString());
          if (problems === null) return currentDiagnostics(v.state); // failed: keep what is shown
          return problems.map((p) => toDiagnostic(state.doc, p));
        },
        { delay: 400 },
      ),
    );
  }

  view = new EditorView({
    parent: options.parent,
    state: EditorState.create({ doc: options.doc == null ? "" : String(options.doc), extensions }),
  });

  return {
    view,
    getDoc: () => view.state.doc.toString(),
    setDoc(text) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text == null ? "" : String(text) } });
    },
    setDark(dark) {
      view.dispatch({ effects: themeCompartment.reconfigure(dark ? darkExtensions : lightExtensions) });
    },
    setReadOnly(readOnly) {
      view.dispatch({ effects: readOnlyCompartment.reconfigure(readOnlyExtensions(!!readOnly)) });
    },
    gotoLine(line, column) {
      const pos = position(view.state.doc, line, column == null ? 1 : column);
      view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: "center" }) });
      view.focus();
    },
    // The cursor (and selection) as offsets, and back: a refused save puts it where it was.
    getCursor() {
      const main = view.state.selection.main;
      return { anchor: main.anchor, head: main.head };
    },
    setCursor(cursor) {
      const length = view.state.doc.length;
      const clamp = (n) => Math.min(Math.max(0, Number(n) || 0), length);
      const anchor = clamp(cursor && cursor.anchor);
      const head = clamp(cursor && cursor.head != null ? cursor.head : anchor);
      view.dispatch({ selection: { anchor, head }, effects: EditorView.scrollIntoView(head, { y: "center" }) });
      view.focus();
    },
    // The toolbar's buttons: @codemirror/search's panel (find; replace too unless
    // read-only) and its go-to-line dialog, as Mod-f and Mod-Alt-g open them.
    openSearch() {
      openSearchPanel(view);
    },
    openReplace() {
      openSearchPanel(view);
      const field = view.dom.querySelector(".cm-search input[name=replace]");
      if (field) {
        field.focus();
        field.select();
      }
    },
    openGotoLine() {
      gotoLine(view);
    },
    async check() {
      const state = view.state;
      const problems = await requestProblems(state.doc.toString());
      if (problems !== null && view.state.doc === state.doc) {
        view.dispatch(setDiagnostics(view.state, problems.map((p) => toDiagnostic(state.doc, p))));
      }
      return problems;
    },
    destroy: () => view.destroy(),
  };
}

// Fills a <ol>/<ul> with the problems, each a button that moves the editor
// there, in the markup the server renders (sheets/templates/sheets/editor.html):
// <li><button type="button" class="problem" data-line data-column>Line L, column C: message</button> <span class="hint">hint</span></li>
function renderProblems(listElement, problems, editor) {
  if (!listElement) return;
  listElement.replaceChildren();
  if (!problems || !problems.length) {
    listElement.append(el("li", "no-problems", "No problems."));
    return;
  }
  for (const problem of problems) {
    const item = el("li");
    if (problem.severity) item.dataset.severity = problem.severity;
    if (problem.code) item.dataset.code = problem.code;
    if (problem.line) {
      const button = el("button", "problem", `Line ${problem.line}, column ${problem.column || 1}: ${problem.message}`);
      button.type = "button";
      button.dataset.line = String(problem.line);
      button.dataset.column = String(problem.column || 1);
      button.dataset.wired = "true"; // this click handler moves the editor; page scripts can skip it
      button.addEventListener("click", () => {
        if (editor && typeof editor.gotoLine === "function") editor.gotoLine(problem.line, problem.column || 1);
      });
      item.append(button);
    } else {
      item.append(el("span", "problem", String(problem.message)));
    }
    if (problem.hint) item.append(" ", el("span", "hint", problem.hint));
    listElement.append(item);
  }
}

export { create, renderProblems };
