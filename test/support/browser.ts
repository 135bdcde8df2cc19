/**
 * A real browser for the console tests: Debian's Chromium driven by playwright-core (no
 * browser download). In CI (`CI=true`, where .ci/run installs chromium) the tests always
 * run; elsewhere they are registered only when Chromium is there, and say why when not.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { REPO } from './processes.js';

export const CHROMIUM = '/usr/bin/chromium';

export const BROWSER_TESTS = process.env.CI === 'true' || existsSync(CHROMIUM);
if (!BROWSER_TESTS) {
  console.log(
    `browser tests not run: no Chromium at ${CHROMIUM} (apt-get install -y chromium; CI installs it and always runs them)`,
  );
}

/** Where the tests leave screenshots (git-ignored). */
export const ARTIFACTS = path.join(REPO, '.artifacts', 'console');

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
