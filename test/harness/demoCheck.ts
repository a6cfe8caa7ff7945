// `scripts/demo.sh --check`: proves the demo's code-server (password login, mloop installed by
// symlink) shows the mloop activity-bar icon. Usage:
//   MLOOP_DEMO_PASSWORD=… node out/test/harness/demoCheck.js --url <workbench url> --screenshot <file.png>
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { activityBarItem, launchChromium, newWorkbenchPage, openViewContainer, viewHeaders, waitForIconPainted, waitForWorkbench } from './browser';
import { pollUntil } from './poll';

interface DemoCheckArgs {
  url: string;
  screenshot: string;
  password?: string;
}

function parseArgs(argv: readonly string[]): DemoCheckArgs {
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const url = value('--url');
  const screenshot = value('--screenshot');
  if (url === undefined || screenshot === undefined) {
    throw new Error('usage: demoCheck --url <workbench url> --screenshot <file.png> (password in MLOOP_DEMO_PASSWORD)');
  }
  // the password comes through the environment so it never shows in `ps`
  return { url, screenshot, password: process.env.MLOOP_DEMO_PASSWORD };
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const browser = await launchChromium();
  try {
    const page = await newWorkbenchPage(browser);
    await page.goto(args.url);
    const passwordInput = page.locator('input[type="password"]');
    const workbench = page.locator('.monaco-workbench .part.activitybar').first();
    // code-server answers with its login page first when auth is on
    await Promise.race([passwordInput.waitFor({ timeout: 30_000 }), workbench.waitFor({ timeout: 30_000 })]);
    if (await passwordInput.isVisible()) {
      if (args.password === undefined) throw new Error('the demo asks for a password but MLOOP_DEMO_PASSWORD is not set');
      await passwordInput.fill(args.password);
      await passwordInput.press('Enter');
    }
    await waitForWorkbench(page, 60_000);
    const icon = activityBarItem(page, 'mloop');
    const shown = await icon
      .waitFor({ state: 'visible', timeout: 60_000 })
      .then(() => waitForIconPainted(icon))
      .then(
        () => true,
        () => false,
      );
    // the screenshot is more useful with mloop's own side bar open: it shows the example's data
    const views = shown ? await openViewContainer(page, 'mloop').then(() => viewHeaders(page)) : [];
    // let the views finish loading so the picture shows content, not progress bars (best effort)
    await pollUntil(async () => (await page.locator('.part.sidebar .monaco-progress-container.active').count()) === 0, {
      what: 'the mloop views to finish loading',
      timeoutMs: 15_000,
    }).catch(() => undefined);
    mkdirSync(dirname(args.screenshot), { recursive: true });
    await page.screenshot({ path: args.screenshot });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (!shown) {
      console.error(`demo check: FAILED: no mloop icon in the activity bar after ${seconds} s (screenshot ${args.screenshot})`);
      return 1;
    }
    console.log(`demo check: mloop icon visible, views ${views.join(', ')} after ${seconds} s (screenshot ${args.screenshot})`);
    return 0;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`demo check: FAILED: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  },
);
