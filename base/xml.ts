// Text inside XML or SVG (JUnit reports, ladder diagrams): markup characters escaped, and the control characters XML
// 1.0 does not allow dropped.
export const escapeXml = (s: string): string =>
  s
    .replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)
    // eslint-disable-next-line no-control-regex -- these are what XML 1.0 refuses
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
