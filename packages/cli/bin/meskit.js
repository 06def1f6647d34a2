#!/usr/bin/env node
// Thin shim: the CLI lives in the compiled library so the same code runs in-process.
import '../dist/main.js';
