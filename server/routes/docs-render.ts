// HTML pieces of the API reference: one operation, one schema as a table of its properties.
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';

/** The parts of an OpenAPI 3.1 document the reference shows. */
export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}
export interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: Schema; description?: string }>;
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>;
}
export type Schema = Record<string, unknown>;

type Html = HtmlEscapedString | Promise<HtmlEscapedString>;

/** A short type label: `string`, `integer | null`, `array of Order`, a link for a $ref, enum values. */
export function typeLabel(schema: Schema | undefined): Html | string {
  if (!schema) return 'any';
  const ref = schema.$ref as string | undefined;
  if (ref) {
    const name = ref.split('/').at(-1)!;
    return html`<a href="#schema-${name}">${name}</a>`;
  }
  const variants = (schema.anyOf ?? schema.oneOf) as Schema[] | undefined;
  if (variants) return html`${variants.map((v, i) => html`${i ? ' | ' : ''}${typeLabel(v)}`)}`;
  if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(' | ');
  if ('const' in schema) return JSON.stringify(schema.const);
  const types = ([] as unknown[]).concat(schema.type ?? 'any').map(String);
  if (types.includes('array')) {
    const rest = types.filter((t) => t !== 'array');
    return html`array of ${typeLabel(schema.items as Schema)}${rest.map((t) => ` | ${t}`)}`;
  }
  return types.join(' | ');
}

function constraints(schema: Schema): string {
  const keys = ['format', 'minimum', 'maximum', 'minLength', 'maxLength', 'maxItems', 'pattern', 'default'];
  return keys
    .filter((k) => schema[k] !== undefined)
    .map((k) => `${k}: ${typeof schema[k] === 'string' ? schema[k] : JSON.stringify(schema[k])}`)
    .join(', ');
}

/** The type cell of a property: a nested table for an object or an array of objects. */
function nested(prop: Schema, depth: number): Html | string {
  if (prop.properties) return renderSchema(prop, depth + 1);
  const items = prop.items as Schema | undefined;
  if (items?.properties) return html`array of ${renderSchema(items, depth + 1)}`;
  return typeLabel(prop);
}

/** A schema: its properties as a table (nested objects inline), or its type for anything else. */
export function renderSchema(schema: Schema | undefined, depth = 0): Html {
  const properties = schema?.properties as Record<string, Schema> | undefined;
  if (!schema || !properties || depth > 3) return html`<p class="type">${typeLabel(schema)}</p>`;
  const required = new Set((schema.required as string[] | undefined) ?? []);
  return html`<table class="props">
    <tr><th>field</th><th>type</th><th>notes</th></tr>
    ${Object.entries(properties).map(
      ([name, prop]) => html`<tr>
        <td><code>${name}</code>${required.has(name) ? html` <span class="req">required</span>` : ''}</td>
        <td>${nested(prop, depth)}</td>
        <td>${(prop.description as string | undefined) ?? ''} ${constraints(prop)}</td>
      </tr>`,
    )}
  </table>`;
}

/** One operation: method and path, summary, parameters, request body, responses. */
export function renderOperation(
  method: string,
  path: string,
  op: Operation,
  schemas: Record<string, Schema> = {},
): Html {
  // A request body is what a client writes, so its fields are shown here rather than one click away.
  const resolve = (schema: Schema | undefined) => {
    const ref = schema?.$ref as string | undefined;
    return ref ? schemas[ref.split('/').at(-1)!] : schema;
  };
  const body = Object.entries(op.requestBody?.content ?? {});
  return html`<section class="op" id="${method}-${path}">
    <h2><b class="m ${method}">${method.toUpperCase()}</b> <code>${path}</code>${op.security?.length ? html` <span class="admin">admin</span>` : ''}</h2>
    <p>${op.summary ?? ''}</p>
    ${op.description ? html`<p class="desc">${op.description}</p>` : ''}
    ${
      op.parameters?.length
        ? html`<h4>Parameters</h4><table class="props">
          <tr><th>name</th><th>in</th><th>type</th><th>notes</th></tr>
          ${op.parameters.map(
            (
              p,
            ) => html`<tr><td><code>${p.name}</code>${p.required ? html` <span class="req">required</span>` : ''}</td>
              <td>${p.in}</td><td>${typeLabel(p.schema)}</td><td>${p.description ?? (p.schema?.description as string) ?? ''} ${p.schema ? constraints(p.schema) : ''}</td></tr>`,
          )}
        </table>`
        : ''
    }
    ${body.map(
      ([type, media]) =>
        html`<h4>Request body <code>${type}</code> ${typeLabel(media.schema)}</h4>${renderSchema(resolve(media.schema))}`,
    )}
    <h4>Responses</h4>
    <table class="props">
      <tr><th>status</th><th>description</th><th>body</th></tr>
      ${Object.entries(op.responses ?? {}).map(
        ([status, r]) => html`<tr><td><code>${status}</code></td><td>${r.description ?? ''}</td>
          <td>${Object.entries(r.content ?? {}).map(([type, media]) => html`<div><code>${type}</code> ${typeLabel(media.schema)}</div>`)}</td></tr>`,
      )}
    </table>
  </section>`;
}

export const DOCS_STYLE = `
body { margin: 0; display: flex; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1c2430; }
nav { width: 280px; flex: none; height: 100vh; overflow: auto; position: sticky; top: 0; background: #f5f7fa; border-right: 1px solid #dde3ea; padding: 0 16px; box-sizing: border-box; }
nav ul { list-style: none; padding: 0; margin: 0; } nav li { margin: 2px 0; white-space: nowrap; }
nav h1 { font-size: 18px; } nav h3 { font-size: 12px; text-transform: uppercase; color: #5d6b7e; margin: 16px 0 4px; }
main { padding: 8px 32px 64px; max-width: 1000px; }
a { color: #2563eb; text-decoration: none; } code { font: 12.5px ui-monospace, Menlo, Consolas, monospace; }
.op { border-top: 1px solid #dde3ea; padding-top: 8px; margin-top: 24px; } .op h2 { font-size: 17px; }
.m { display: inline-block; min-width: 44px; text-align: center; font-size: 11px; color: #fff; border-radius: 3px; padding: 1px 4px; background: #5d6b7e; }
.m.get { background: #2563eb; } .m.post { background: #15803d; } .m.delete { background: #b91c1c; }
.admin { font-size: 11px; background: #fef3c7; color: #b45309; border-radius: 8px; padding: 1px 8px; vertical-align: middle; }
.req { font-size: 11px; color: #b91c1c; } .desc, .note { color: #5d6b7e; }
table.props { border-collapse: collapse; width: 100%; margin: 4px 0 8px; }
.props th, .props td { border: 1px solid #dde3ea; padding: 4px 8px; text-align: left; vertical-align: top; }
.props th { background: #eef2f6; font-size: 12px; } .props .props { margin: 0; }
`;
