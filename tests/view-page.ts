// The live view of a lab the tests reach through the library (a side lab, a Docker stack), served in-process as
// `lab view` serves it, and opened in headless Chromium.
import type { Page } from 'playwright-core';
import type { LabAccess } from '../provision/transport.js';
import { macsOf } from '../verify/probes.js';
import { claimBoard } from '../view/board.js';
import { startView } from '../view/server.js';
import { openPage } from './browser.js';

export async function withViewPage(access: LabAccess, use: (page: Page) => Promise<void>): Promise<void> {
  const board = await claimBoard(access.lab.name);
  try {
    const { renderGraph } = await import('../inside/graph.js');
    const { svg } = await renderGraph(access.lab, await macsOf(access));
    const view = await startView(access, {
      host: '127.0.0.1',
      port: 0,
      graphSvg: svg,
      board: board.dir,
    });
    try {
      const browser = await openPage(view.url);
      try {
        await use(browser.page);
      } finally {
        await browser.close();
      }
    } finally {
      await view.stop('the test is over');
    }
  } finally {
    await board.release();
  }
}
