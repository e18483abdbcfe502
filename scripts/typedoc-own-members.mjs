// A TypeDoc plugin: of what a class inherits from outside the documentation (the dozens of statics and
// methods every Troupe error inherits from effect's Schema classes), only the instance fields are kept
// (an error's fields are declared by that base); effect documents the rest.
import { Converter, ReflectionKind } from "typedoc"

/** @param {import("typedoc").Reflection} reflection */
const isInstanceField = (reflection) =>
  reflection.kindOf(ReflectionKind.Property) && !reflection.flags.isStatic && !reflection.name.startsWith("~")

/** @param {import("typedoc").Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const reflection of Object.values(context.project.reflections)) {
      const from = reflection.inheritedFrom
      if (from !== undefined && from.reflection === undefined && !isInstanceField(reflection)) {
        context.project.removeReflection(reflection)
      }
    }
  })
}
