#!/usr/bin/env node
// Validate glTF / GLB files with the Khronos glTF validator.
//
// Usage: node validate-gltf.mjs FILE [FILE ...]
// Prints one JSON validation report per file on stdout, one per line (JSON Lines), in the
// order given. Exit status: 0 when no file has errors, 1 when at least one has, 2 on bad usage
// or a file that cannot be read or recognised.

import { readFile } from "node:fs/promises";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

async function loadExternal(baseDir, uri) {
  return new Uint8Array(await readFile(path.resolve(baseDir, decodeURIComponent(uri))));
}

async function validateFile(file) {
  const data = new Uint8Array(await readFile(file));
  const baseDir = path.dirname(path.resolve(file));
  const report = await validator.validateBytes(data, {
    uri: file,
    maxIssues: 1000,
    externalResourceFunction: (uri) => loadExternal(baseDir, uri),
  });
  report.uri = file;
  return report;
}

async function main(files) {
  if (files.length === 0) {
    process.stderr.write("usage: validate-gltf.mjs FILE [FILE ...]\n");
    return 2;
  }
  let status = 0;
  for (const file of files) {
    try {
      const report = await validateFile(file);
      process.stdout.write(JSON.stringify(report) + "\n");
      if (report.issues.numErrors > 0 && status === 0) status = 1;
    } catch (error) {
      const failure = { uri: file, fatal: String(error) };
      process.stdout.write(JSON.stringify(failure) + "\n");
      status = 2;
    }
  }
  return status;
}

process.exitCode = await main(process.argv.slice(2));
