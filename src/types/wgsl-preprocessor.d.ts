// Types for wgsl-preprocessor (the package ships plain JS without declarations).
export function wgsl(strings: TemplateStringsArray, ...values: unknown[]): string;
