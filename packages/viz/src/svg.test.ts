import { createRequire } from "node:module";
import { Resvg } from "@resvg/resvg-js";
import { describe, expect, it } from "vitest";
import { texts } from "../test/pixels.js";
import { escapeXml, svgText, textWidth } from "./svg.js";

const require = createRequire(import.meta.url);

/** Right edge of `text` as resvg draws it with the shipped font (its ink, not its advance). */
function renderedWidth(text: string, bold: boolean): number {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="200"><text x="0" y="100" font-size="100"${bold ? ' font-weight="bold"' : ""}>${escapeXml(text)}</text></svg>`;
  const files = ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"].map((f) =>
    require.resolve(`dejavu-fonts-ttf/ttf/${f}`),
  );
  const box = new Resvg(svg, {
    font: { fontFiles: files, loadSystemFonts: false, defaultFontFamily: "DejaVu Sans" },
  }).getBBox();
  return box ? box.x + box.width : 0;
}

describe("textWidth", () => {
  it.each([
    ["automobile → airplane 93% · #1234", false],
    ["Confusion matrix (10 000 examples)", true],
    ["MWQ wide ×× … iii", false],
  ])("matches the width resvg draws %j with", (text, bold) => {
    // The ink ends slightly before the advance (the last glyph's right bearing): within 2%.
    const measured = textWidth(text, 100, bold);
    const drawn = renderedWidth(text, bold);
    expect(Math.abs(measured - drawn) / drawn).toBeLessThan(0.02);
  });
});

describe("svgText", () => {
  it("escapes markup and splits lines into tspans", () => {
    const svg = svgText('a <b> & "c"\nsecond', { x: 10, y: 20, size: 11 });
    expect(svg).toContain("a &lt;b&gt; &amp; &quot;c&quot;");
    expect(svg.match(/<tspan/g)).toHaveLength(2);
    expect(texts(svg)).toEqual(['a <b> & "c"\nsecond']);
  });
});
