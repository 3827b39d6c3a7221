#!/usr/bin/env node
// Launcher of the Firestore API emulator that the firestore driver's tests
// run against: @firestore-emulator/server (pinned in package.json), an
// in-memory implementation of the Firestore gRPC API in Node.
//
//   node server.js [HOST:PORT]          # default 127.0.0.1:8085
//
// It differs from the package's own start() in three ways:
//
//   - It binds the address given (loopback by default), where start() binds
//     0.0.0.0, and prints "listening on HOST:PORT" once bound.
//   - It stops cleanly on SIGTERM and SIGINT.
//   - It fixes how the emulator applies a write's update mask, so that it
//     follows the Firestore API (google.firestore.v1.Write.update_mask):
//     "Fields referenced in the mask, but not present in the input document,
//     are deleted from the document on the server", and field paths are
//     parsed as the API defines them, with `backtick` quoting of any segment
//     that is not a plain identifier. The emulator 0.3.15 never deletes a
//     masked field (so firestore.Delete is a silent no-op), only recognises
//     quoted segments that contain a dot (so an update of data.`$x` or
//     data.`with space` is silently dropped), and keeps the fields a whole
//     document write (Set without merge) leaves out. See patchUpdateMask.
//
// What it does not fix, and tests must therefore not rely on: transactions
// are not isolated, update-time preconditions are ignored, and there is no
// TTL policy.
//
// Modules are found by Node's usual lookup, or in NODE_PATH: scripts/test
// installs them outside the source tree and sets NODE_PATH.
"use strict";

const {
  FirestoreServer,
  FirestoreStateDocument,
} = require("@firestore-emulator/server");
const { ServerCredentials } = require("@grpc/grpc-js");

// parseFieldPath splits a field path of the Firestore API into its
// segments: segments are separated by dots, and a segment that is not a
// plain identifier is quoted in backticks, with \` and \\ escaped.
function parseFieldPath(path) {
  const segments = [];
  let i = 0;
  while (i <= path.length) {
    let seg = "";
    if (path[i] === "`") {
      i++;
      for (;;) {
        if (i >= path.length) {
          throw new Error(`invalid field path ${JSON.stringify(path)}: unterminated backtick`);
        }
        const c = path[i];
        if (c === "\\") {
          if (i + 1 >= path.length) {
            throw new Error(`invalid field path ${JSON.stringify(path)}: dangling escape`);
          }
          seg += path[i + 1];
          i += 2;
        } else if (c === "`") {
          i++;
          break;
        } else {
          seg += c;
          i++;
        }
      }
    } else {
      const end = path.indexOf(".", i);
      seg = end < 0 ? path.slice(i) : path.slice(i, end);
      i = end < 0 ? path.length : end;
    }
    segments.push(seg);
    if (i >= path.length) {
      break;
    }
    if (path[i] !== ".") {
      throw new Error(`invalid field path ${JSON.stringify(path)}: expected "." at ${i}`);
    }
    i++;
  }
  return segments;
}

const isMap = (f) => f != null && f.type === "map_value";

// lookup returns the field at segments in fields, or undefined.
function lookup(fields, segments) {
  let cur = fields;
  for (let i = 0; i < segments.length; i++) {
    if (cur == null || !Object.prototype.hasOwnProperty.call(cur, segments[i])) {
      return undefined;
    }
    const f = cur[segments[i]];
    if (i === segments.length - 1) {
      return f;
    }
    cur = isMap(f) ? f.value : undefined;
  }
  return undefined;
}

// setAt returns a copy of fields with value at segments, making the maps
// on the way (mapCtors[i] builds the map at depth i).
function setAt(fields, segments, value, mapCtors) {
  const [head, ...rest] = segments;
  const out = { ...fields };
  if (rest.length === 0) {
    out[head] = value;
    return out;
  }
  const inner = isMap(fields[head]) ? fields[head].value : {};
  out[head] = new mapCtors[0](setAt(inner, rest, value, mapCtors.slice(1)));
  return out;
}

// deleteAt returns a copy of fields without the field at segments.
function deleteAt(fields, segments) {
  const [head, ...rest] = segments;
  if (!Object.prototype.hasOwnProperty.call(fields, head)) {
    return fields;
  }
  const out = { ...fields };
  if (rest.length === 0) {
    delete out[head];
    return out;
  }
  if (!isMap(fields[head])) {
    return fields;
  }
  out[head] = new fields[head].constructor(deleteAt(fields[head].value, rest));
  return out;
}

// applyWrite returns the fields of a document after a write of fields
// with updateMask: without a mask the document becomes fields; with one,
// each masked path is set from fields, or deleted when fields lacks it.
function applyWrite(current, fields, updateMask) {
  if (!updateMask || updateMask.length === 0) {
    return { ...fields };
  }
  let out = current;
  for (const path of updateMask) {
    const segments = parseFieldPath(path);
    const value = lookup(fields, segments);
    if (value === undefined) {
      out = deleteAt(out, segments);
      continue;
    }
    // The maps on the way exist in fields (value was found through them).
    const ctors = [];
    let cur = fields;
    for (const seg of segments.slice(0, -1)) {
      ctors.push(cur[seg].constructor);
      cur = cur[seg].value;
    }
    out = setAt(out, segments, value, ctors);
  }
  return out;
}

const inTransform = Symbol("inTransform");

// patchUpdateMask replaces the emulator's handling of update masks (see the
// comment at the top). The emulator's own update and set still run, with no
// fields, for their bookkeeping (update time, existence, events).
function patchUpdateMask() {
  const proto = FirestoreStateDocument.prototype;
  const { update, set, v1Transform } = proto;
  if (typeof update !== "function" || typeof set !== "function" || typeof v1Transform !== "function") {
    throw new Error("@firestore-emulator/server changed: FirestoreStateDocument has no update, set or v1Transform");
  }
  proto.update = function (date, fields, updateMask = []) {
    if (!this.metadata.hasExist) {
      return update.call(this, date, fields, updateMask); // throws as before
    }
    this.fields = applyWrite(this.fields, fields, updateMask);
    return update.call(this, date, {}, []);
  };
  proto.set = function (date, fields, updateMask = []) {
    if (this[inTransform]) {
      // A field transform (increment, server timestamp...) sets one field.
      return set.call(this, date, fields, updateMask);
    }
    const current = this.metadata.hasExist ? this.fields : {};
    this.fields = applyWrite(current, fields, updateMask);
    return set.call(this, date, {}, []);
  };
  proto.v1Transform = function (...args) {
    this[inTransform] = true;
    try {
      return v1Transform.apply(this, args);
    } finally {
      this[inTransform] = false;
    }
  };
}

function main() {
  const addr = process.argv[2] || "127.0.0.1:8085";
  patchUpdateMask();
  const fs = new FirestoreServer();
  // FirestoreServer keeps its grpc-js Server in the field "server".
  const server = fs.server;
  server.bindAsync(addr, ServerCredentials.createInsecure(), (err) => {
    if (err) {
      console.error(`firestore emulator: cannot listen on ${addr}: ${err.message}`);
      process.exit(1);
    }
    console.log(`firestore emulator: listening on ${addr}`);
  });
  let stopping = false;
  const stop = (signal) => {
    if (stopping) {
      return;
    }
    stopping = true;
    console.log(`firestore emulator: ${signal}, stopping`);
    const timer = setTimeout(() => {
      server.forceShutdown();
      process.exit(0);
    }, 2000);
    server.tryShutdown(() => {
      clearTimeout(timer);
      process.exit(0);
    });
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

if (require.main === module) {
  main();
}

module.exports = { parseFieldPath, applyWrite };
