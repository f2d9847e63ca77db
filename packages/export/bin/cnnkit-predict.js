#!/usr/bin/env node
// Kept in the repository (not built) so installs can link the bin before dist/ exists.
import "../dist/cli.js";
