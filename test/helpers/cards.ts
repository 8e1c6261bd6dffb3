/** Every Action.OpenUrl target in one or more Teams message bodies. */
export function openUrls(...bodies: unknown[]): string[] {
  const urls: string[] = [];
  const walk = (value: unknown) => {
    if (Array.isArray(value)) for (const v of value) walk(v);
    else if (value !== null && typeof value === "object") {
      const node = value as Record<string, unknown>;
      if (node.type === "Action.OpenUrl" && typeof node.url === "string") urls.push(node.url);
      for (const v of Object.values(node)) walk(v);
    }
  };
  for (const body of bodies) walk(body);
  return urls;
}
